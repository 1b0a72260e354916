fn main() {
    codegen::build_script("smmuv3.yaml");
}
