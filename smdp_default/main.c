/*
 * smdp-default - Default SM-DP+.  Device-facing ES9+ on the "device" listener (server-only TLS), ES2+
 * (from operators) on the mutual-TLS "s2s" listener.  Startup, configuration and shutdown are shared
 * with the SM-DS in rsp/service.c; `smdp-default --help` lists the keys.
 */
#include "rsp/service.h"

int main(int argc, char **argv)
{
    static const rsp_service_def_t def = {
        .name = "smdp-default",
        .description = "SGP.22 Default SM-DP+ (ES9+, ES2+)",
        .device_port = "9443",
        .s2s_port = "9444",
    };
    return rsp_service_main(&def, argc, argv);
}
