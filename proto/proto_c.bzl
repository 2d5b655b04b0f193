"""proto_c_library: runs protoc-c (Debian protobuf-c-compiler) in a genrule and
wraps the generated C in a cc_library linked against libprotobuf-c."""

def proto_c_library(name, src, deps = [], visibility = None):
    base = src[:-len(".proto")]
    native.genrule(
        name = name + "_gen",
        srcs = [src],
        outs = [base + ".pb-c.c", base + ".pb-c.h"],
        cmd = "protoc-c --proto_path=$$(dirname $(location %s)) --c_out=$(@D) $(location %s)" % (src, src),
    )
    native.cc_library(
        name = name,
        srcs = [base + ".pb-c.c"],
        hdrs = [base + ".pb-c.h"],
        # generated code includes "<base>.pb-c.h" relative to its own folder
        includes = ["."],
        copts = ["-Wno-unused-parameter"],
        deps = deps + ["//third_party/sys:protobuf_c"],
        visibility = visibility,
    )
