/*
 * smds - SM-DS discovery server.  Device-facing ES11 on the "device" listener (server-only TLS), ES12
 * (from SM-DP+) and ES15 (from other SM-DS) on the mutual-TLS "s2s" listener.  Startup, configuration
 * and shutdown are shared with the SM-DP+ in rsp/service.c; `smds --help` lists the keys.
 */
#include "rsp/service.h"

int main(int argc, char **argv)
{
    static const rsp_service_def_t def = {
        .name = "smds",
        .description = "SGP.22 SM-DS discovery server (ES11, ES12, ES15)",
        .device_port = "8443",
        .s2s_port = "8444",
    };
    return rsp_service_main(&def, argc, argv);
}
