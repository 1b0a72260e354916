fn main() {
    codegen::build_script("cmdqv.yaml");
}
