fn main() {
    codegen::build_script("pl011.yaml");
}
