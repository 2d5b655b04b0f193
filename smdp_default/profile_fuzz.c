/* Fuzz target: the UPP checker must never crash, read out of bounds or
 * accept a package whose ICCID it cannot print. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smdp_default/profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    smdp_profile_info info;
    if (smdp_profile_parse(data, size, &info) == SMDP_PROFILE_OK) {
        if (!smdp_iccid_valid(info.iccid))
            abort();
        uint8_t ef[SMDP_ICCID_BCD_LEN];
        char back[SMDP_ICCID_MAX + 1];
        if (smdp_iccid_to_ef(info.iccid, ef) || smdp_iccid_from_ef(ef, back) || strcmp(back, info.iccid))
            abort();
        if (strlen(info.profile_type) > SMDP_PROFILE_TYPE_MAX || info.elements < 2)
            abort();
    }
    return 0;
}
