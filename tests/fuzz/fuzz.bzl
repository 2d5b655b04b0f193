"""rsp_fuzz_target: one libFuzzer entry point, built two ways.

Default and ASan builds link tests/fuzz/driver.c (seeds plus bounded
mutations), so every target also runs as a unit test.  With --config=fuzz the
same target links libFuzzer; the test then runs libFuzzer for `runs` inputs.
`defines` lets one source give a target per handler.
"""

def rsp_fuzz_target(name, srcs, deps = [], seeds = [], runs = 20000, defines = []):
    native.cc_test(
        name = name,
        srcs = srcs,
        local_defines = defines,
        deps = deps + select({
            "//tests/fuzz:libfuzzer": [],
            "//conditions:default": ["//tests/fuzz:driver"],
        }),
        linkopts = select({
            "//tests/fuzz:libfuzzer": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        data = seeds,
        # libFuzzer treats plain file arguments as inputs to replay and stops,
        # so seeds go through -seed_inputs (which the stand-alone driver reads too).
        args = ["-runs=%d" % runs] + (
            ["-seed_inputs=" + ",".join(["$(location %s)" % s for s in seeds])] if seeds else []
        ),
        tags = ["fuzz"],
    )
