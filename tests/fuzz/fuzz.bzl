"""rsp_fuzz_target: one libFuzzer entry point, built two ways.

Default and ASan builds link tests/fuzz/driver.c (seeds plus bounded
mutations), so every target also runs as a unit test.  With --config=fuzz the
same target links libFuzzer; the test then runs libFuzzer for `runs` inputs.
`defines` lets one source give a target per handler.  The committed corpus of
a target, fuzz_corpus/NAME/ in its package (written by tests/fuzz/campaign
--merge), is read with the seeds.  `linkstatic` links
the libraries into the executable (needed where rsp/http.c's LeakSanitizer
suppressions must take effect).
"""

def rsp_fuzz_target(name, srcs, deps = [], seeds = [], runs = 20000, defines = [], linkstatic = False):
    # The corpus tests/fuzz/campaign --merge keeps (fuzz_corpus/NAME/ beside the BUILD file) is replayed
    # with the seeds, so what a campaign found stays covered by every short run.
    inputs = seeds + native.glob(["fuzz_corpus/%s/*" % name])
    native.cc_test(
        name = name,
        srcs = srcs,
        local_defines = defines,
        linkstatic = linkstatic,
        deps = deps + select({
            "//tests/fuzz:libfuzzer": [],
            "//conditions:default": ["//tests/fuzz:driver"],
        }),
        linkopts = select({
            "//tests/fuzz:libfuzzer": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        data = inputs,
        # libFuzzer treats plain file arguments as inputs to replay and stops,
        # so seeds go through -seed_inputs (which the stand-alone driver reads too).
        args = ["-runs=%d" % runs] + (
            ["-seed_inputs=" + ",".join(["$(location %s)" % s for s in inputs])] if inputs else []
        ),
        tags = ["fuzz"],
    )
