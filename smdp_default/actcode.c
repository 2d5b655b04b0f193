#include "smdp_default/actcode.h"

#include <stdio.h>
#include <string.h>

bool smdp_ac_token_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > SMDP_AC_TOKEN_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '-'))
            return false;
    return true;
}

bool smdp_ac_address_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 255 || s[0] == '.' || s[0] == '-' || s[0] == ':')
        return false;
    size_t host = strcspn(s, ":");
    for (size_t i = 0; i < host; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '.' || s[i] == '-'))
            return false;
    if (host == n)
        return true;
    /* ":port": 1 to 5 digits */
    size_t digits = n - host - 1;
    if (digits == 0 || digits > 5)
        return false;
    for (size_t i = host + 1; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

bool smdp_ac_oid_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0, arcs = 1;
    if (n == 0 || n > 128 || s[0] == '.' || s[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (s[i + 1] == '.')
                return false;
            arcs++;
        } else if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return arcs >= 2;
}

int smdp_ac_format(const char *address, const char *token, const char *oid, bool cc_required, char *out,
                   size_t cap)
{
    bool has_oid = oid && *oid;
    if (!smdp_ac_address_valid(address) || !smdp_ac_token_valid(token) ||
        (has_oid && !smdp_ac_oid_valid(oid)))
        return -1;
    int n;
    if (cc_required)
        n = snprintf(out, cap, "LPA:1$%s$%s$%s$1", address, token, has_oid ? oid : "");
    else if (has_oid)
        n = snprintf(out, cap, "LPA:1$%s$%s$%s", address, token, oid);
    else
        n = snprintf(out, cap, "LPA:1$%s$%s", address, token);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}
