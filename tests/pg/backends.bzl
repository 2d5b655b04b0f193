"""Tests that run against each store backend from one source."""

def store_backend_test(name, tags = [], local_defines = [], **kwargs):
    """Defines name (LMDB) and name_pg (PostgreSQL: TEST_STORE_POSTGRES defined, outside the sandbox).

    The PostgreSQL variant starts its own throw-away server (tests/pg/pgtmp.h) and runs unsandboxed
    because, as root, the sandbox cannot hand the data directory to the user the server runs as.
    """
    native.cc_test(name = name, tags = tags, local_defines = local_defines, **kwargs)
    native.cc_test(
        name = name + "_pg",
        tags = tags + ["no-sandbox"],
        local_defines = local_defines + ["TEST_STORE_POSTGRES"],
        **kwargs
    )
