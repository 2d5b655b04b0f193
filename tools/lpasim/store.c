/*
 * tools/lpasim/store.c - eUICC directories: load, save and create them.
 *
 * Layout (see euicc.h): euicc.der or .pem, euicc.key.pem, eum.der or .pem, the CI certificates in ci/,
 * state.json, otk.pem.  state.json is written to a temporary file, synced and
 * renamed, so a crash leaves the old or the new state, never a mix.
 */
#include "tools/lpasim/euicc_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "rsp/arena.h"
#include "rsp/codec.h"
#include "rsp/json.h"
#include "rsp/jsonw.h"

#define STATE_FILE "state.json"
#define STATE_MAX (16u * 1024 * 1024)

static const char *const event_names[4] = {"install", "enable", "disable", "delete"};

static int path_join(char *out, size_t cap, const char *a, const char *b)
{
    int n = snprintf(out, cap, "%s/%s", a, b);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool dir_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static uint8_t *read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 4096;
            if (nc > max + 1)
                nc = max + 1;
            if (nc <= cap) {
                free(buf);
                fclose(f);
                return NULL;
            }
            uint8_t *nb = realloc(buf, nc);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap = nc;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0)
            break;
        n += r;
    }
    bool bad = ferror(f) || n > max;
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* Writes data to path via a synced temporary file and rename. */
static int write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    const uint8_t *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            unlink(tmp);
            return -1;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* First of dir/name.der, dir/name.pem that exists. */
static int find_cert_file(const char *dir, const char *name, char *out, size_t cap)
{
    static const char *const ext[] = {".der", ".pem"};
    for (int i = 0; i < 2; i++) {
        char base[PATH_MAX];
        if (snprintf(base, sizeof(base), "%s%s", name, ext[i]) >= (int)sizeof(base) ||
            path_join(out, cap, dir, base) != 0)
            return -1;
        if (file_exists(out))
            return 0;
    }
    return -1;
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcasecmp(s + n - m, suf) == 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted paths of the regular files in dir that end in .der or .pem (not
 * .key.pem).  Caller frees each path and the array. */
static char **list_cert_files(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    *count = 0;
    if (!d)
        return NULL;
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || has_suffix(de->d_name, ".key.pem") ||
            !(has_suffix(de->d_name, ".der") || has_suffix(de->d_name, ".pem")))
            continue;
        char full[PATH_MAX];
        if (path_join(full, sizeof(full), dir, de->d_name) != 0 || !file_exists(full))
            continue;
        char **nn = realloc(names, (n + 1) * sizeof(*nn));
        if (!nn)
            break;
        names = nn;
        names[n] = strdup(full);
        if (!names[n])
            break;
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), name_cmp);
    *count = n;
    return names;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* ---- state.json ---- */

struct j_ski {
    rsp_json_bin ski;
};

struct j_profile {
    const char *iccid, *state, *name, *spn, *smdp_address, *smdp_oid;
    const char *notify[4];
    int64_t profile_class;
    rsp_json_bin aid, sha256;
};

struct j_notif {
    int64_t seq;
    const char *event, *address, *iccid;
    rsp_json_bin data;
};

struct j_state {
    int64_t version;
    const char *svn, *profile_version, *firmware_version, *pp_version, *sas;
    const char *default_smdp, *root_smds;
    int64_t uicc_capability, rsp_capability, free_nvm, next_seq;
    bool has_caps;
    rsp_json_array ski_verify, ski_sign, profiles, notifs;
};

static const rsp_json_field ski_fields[] = {
    RSP_JSON_F("ski", RSP_JSON_HEX, RSP_JSON_MANDATORY, 1, RSP_SKI_MAX, struct j_ski, ski),
    RSP_JSON_END,
};

static const rsp_json_field profile_fields[] = {
    RSP_JSON_F("iccid", RSP_JSON_STRING, RSP_JSON_MANDATORY, 18, 20, struct j_profile, iccid),
    RSP_JSON_F("state", RSP_JSON_STRING, RSP_JSON_MANDATORY, 1, 16, struct j_profile, state),
    RSP_JSON_F("profileName", RSP_JSON_STRING, RSP_JSON_OPTIONAL, 0, 64, struct j_profile, name),
    RSP_JSON_F("serviceProviderName", RSP_JSON_STRING, RSP_JSON_OPTIONAL, 0, 32, struct j_profile, spn),
    RSP_JSON_F("profileClass", RSP_JSON_INT, RSP_JSON_OPTIONAL, 0, 2, struct j_profile, profile_class),
    RSP_JSON_F("aid", RSP_JSON_HEX, RSP_JSON_MANDATORY, 5, EUICC_AID_MAX, struct j_profile, aid),
    RSP_JSON_F("packageSha256", RSP_JSON_HEX, RSP_JSON_MANDATORY, 32, 32, struct j_profile, sha256),
    RSP_JSON_F("smdpAddress", RSP_JSON_STRING, RSP_JSON_OPTIONAL, 0, 255, struct j_profile, smdp_address),
    RSP_JSON_F("smdpOid", RSP_JSON_STRING, RSP_JSON_OPTIONAL, 0, 63, struct j_profile, smdp_oid),
    RSP_JSON_F("notifyEnable", RSP_JSON_STRING, RSP_JSON_OPTIONAL, 0, 255, struct j_profile, notify[1]),
    RSP_JSON_F("notifyDisable", RSP_JSON_STRING, RSP_JSON_OPTIONAL, 0, 255, struct j_profile, notify[2]),
    RSP_JSON_F("notifyDelete", RSP_JSON_STRING, RSP_JSON_OPTIONAL, 0, 255, struct j_profile, notify[3]),
    RSP_JSON_END,
};

static const rsp_json_field notif_fields[] = {
    RSP_JSON_F("seqNumber", RSP_JSON_INT, RSP_JSON_MANDATORY, 0, INT64_MAX, struct j_notif, seq),
    RSP_JSON_F("event", RSP_JSON_STRING, RSP_JSON_MANDATORY, 1, 16, struct j_notif, event),
    RSP_JSON_F("address", RSP_JSON_STRING, RSP_JSON_MANDATORY, 0, 255, struct j_notif, address),
    RSP_JSON_F("iccid", RSP_JSON_STRING, RSP_JSON_OPTIONAL, 0, 20, struct j_notif, iccid),
    RSP_JSON_F("data", RSP_JSON_BASE64, RSP_JSON_MANDATORY, 1, 65536, struct j_notif, data),
    RSP_JSON_END,
};

static const rsp_json_field state_fields[] = {
    RSP_JSON_F("version", RSP_JSON_INT, RSP_JSON_MANDATORY, 1, 1, struct j_state, version),
    RSP_JSON_F("svn", RSP_JSON_STRING, RSP_JSON_OPTIONAL, 5, 11, struct j_state, svn),
    RSP_JSON_F("profileVersion", RSP_JSON_STRING, RSP_JSON_OPTIONAL, 5, 11, struct j_state, profile_version),
    RSP_JSON_F("firmwareVersion", RSP_JSON_STRING, RSP_JSON_OPTIONAL, 5, 11, struct j_state,
               firmware_version),
    RSP_JSON_F("ppVersion", RSP_JSON_STRING, RSP_JSON_OPTIONAL, 5, 11, struct j_state, pp_version),
    RSP_JSON_F("sasAccreditationNumber", RSP_JSON_STRING, RSP_JSON_OPTIONAL, 0, 64, struct j_state, sas),
    RSP_JSON_F("defaultSmdpAddress", RSP_JSON_STRING, RSP_JSON_OPTIONAL, 0, 255, struct j_state,
               default_smdp),
    RSP_JSON_F("rootSmdsAddress", RSP_JSON_STRING, RSP_JSON_OPTIONAL, 0, 255, struct j_state, root_smds),
    RSP_JSON_F("uiccCapability", RSP_JSON_INT, RSP_JSON_OPTIONAL, 0, UINT32_MAX, struct j_state,
               uicc_capability),
    RSP_JSON_F("rspCapability", RSP_JSON_INT, RSP_JSON_OPTIONAL, 0, UINT32_MAX, struct j_state,
               rsp_capability),
    RSP_JSON_F("freeNvm", RSP_JSON_INT, RSP_JSON_OPTIONAL, 0, UINT32_MAX, struct j_state, free_nvm),
    RSP_JSON_F("nextSeqNumber", RSP_JSON_INT, RSP_JSON_MANDATORY, 1, INT64_MAX, struct j_state, next_seq),
    RSP_JSON_ARR("ciPKIdListForVerification", RSP_JSON_OPTIONAL, 0, EUICC_SKI_MAX, struct j_state, ski_verify,
                 ski_fields, struct j_ski),
    RSP_JSON_ARR("ciPKIdListForSigning", RSP_JSON_OPTIONAL, 0, EUICC_SKI_MAX, struct j_state, ski_sign,
                 ski_fields, struct j_ski),
    RSP_JSON_ARR("profiles", RSP_JSON_OPTIONAL, 0, 0, struct j_state, profiles, profile_fields,
                 struct j_profile),
    RSP_JSON_ARR("notifications", RSP_JSON_OPTIONAL, 0, 0, struct j_state, notifs, notif_fields,
                 struct j_notif),
    RSP_JSON_END,
};

/* "2.2.2" -> 02 02 02 */
static int parse_version(const char *s, uint8_t out[3])
{
    unsigned a, b, c;
    char tail;
    if (!s)
        return 0;
    if (sscanf(s, "%u.%u.%u%c", &a, &b, &c, &tail) != 3 || a > 255 || b > 255 || c > 255)
        return -1;
    out[0] = (uint8_t)a, out[1] = (uint8_t)b, out[2] = (uint8_t)c;
    return 0;
}

static int event_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, event_names[i]) == 0)
            return i;
    return -1;
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

static int apply_state(euicc *e, const struct j_state *st, euicc_error *err)
{
    euicc_config *c = &e->cfg;
    if (parse_version(st->svn, c->svn) != 0 || parse_version(st->profile_version, c->profile_version) != 0 ||
        parse_version(st->firmware_version, c->firmware_version) != 0 ||
        parse_version(st->pp_version, c->pp_version) != 0) {
        euicc_impl_err(err, 0, -1, "system", "state.json: a version is not N.N.N");
        return -1;
    }
    if (st->sas)
        snprintf(c->sas_accreditation, sizeof(c->sas_accreditation), "%s", st->sas);
    if (st->default_smdp)
        snprintf(c->default_smdp, sizeof(c->default_smdp), "%s", st->default_smdp);
    if (st->root_smds)
        snprintf(c->root_smds, sizeof(c->root_smds), "%s", st->root_smds);
    if (st->uicc_capability)
        c->uicc_capability = (uint32_t)st->uicc_capability;
    if (st->rsp_capability)
        c->rsp_capability = (uint32_t)st->rsp_capability;
    if (st->free_nvm)
        c->free_nvm = (uint32_t)st->free_nvm;
    e->next_seq = st->next_seq;

    const struct j_ski *sv = st->ski_verify.items, *ss = st->ski_sign.items;
    const uint8_t *vp[EUICC_SKI_MAX], *sp[EUICC_SKI_MAX];
    size_t vl[EUICC_SKI_MAX], sl[EUICC_SKI_MAX];
    for (size_t i = 0; i < st->ski_verify.count; i++)
        vp[i] = sv[i].ski.data, vl[i] = sv[i].ski.len;
    for (size_t i = 0; i < st->ski_sign.count; i++)
        sp[i] = ss[i].ski.data, sl[i] = ss[i].ski.len;
    if (euicc_set_ci_lists(e, sv ? vp : NULL, vl, st->ski_verify.count, ss ? sp : NULL, sl,
                           st->ski_sign.count) != 0) {
        euicc_impl_err(err, 0, -1, "system", "state.json: bad CI key id lists");
        return -1;
    }

    const struct j_profile *jp = st->profiles.items;
    for (size_t i = 0; i < st->profiles.count; i++) {
        euicc_profile p = {0};
        if (euicc_iccid_from_str(jp[i].iccid, p.iccid) != 0 ||
            (strcmp(jp[i].state, "enabled") != 0 && strcmp(jp[i].state, "disabled") != 0)) {
            euicc_impl_err(err, 0, -1, "system", "state.json: profile %zu has a bad iccid or state", i);
            return -1;
        }
        euicc_iccid_to_str(p.iccid, p.iccid_str);
        p.enabled = strcmp(jp[i].state, "enabled") == 0;
        p.name = dup_or_empty(jp[i].name);
        p.spn = dup_or_empty(jp[i].spn);
        p.smdp_address = dup_or_empty(jp[i].smdp_address);
        p.smdp_oid = dup_or_empty(jp[i].smdp_oid);
        p.profile_class = (int)jp[i].profile_class;
        memcpy(p.aid, jp[i].aid.data, jp[i].aid.len);
        p.aid_len = jp[i].aid.len;
        memcpy(p.package_sha256, jp[i].sha256.data, 32);
        bool ok = p.name && p.spn && p.smdp_address && p.smdp_oid;
        for (int b = 1; b < 4; b++)
            if (jp[i].notify[b] && !(p.notify_address[b] = strdup(jp[i].notify[b])))
                ok = false;
        if (!ok || euicc_impl_add_profile(e, &p) != 0) {
            euicc_impl_profile_clear(&p);
            euicc_impl_err(err, 0, -1, "system", "out of memory");
            return -1;
        }
    }

    const struct j_notif *jn = st->notifs.items;
    for (size_t i = 0; i < st->notifs.count; i++) {
        euicc_notification n = {0};
        n.seq = jn[i].seq;
        n.event = event_parse(jn[i].event);
        if (n.event < 0) {
            euicc_impl_err(err, 0, -1, "system", "state.json: notification %zu has an unknown event", i);
            return -1;
        }
        snprintf(n.iccid_str, sizeof(n.iccid_str), "%s", jn[i].iccid ? jn[i].iccid : "");
        n.address = strdup(jn[i].address);
        n.der = malloc(jn[i].data.len);
        if (!n.address || !n.der || euicc_impl_add_notification(e, &n) != 0) {
            euicc_impl_notification_clear(&n);
            euicc_impl_err(err, 0, -1, "system", "out of memory");
            return -1;
        }
        memcpy(e->notifs[e->nnotifs - 1].der, jn[i].data.data, jn[i].data.len);
        e->notifs[e->nnotifs - 1].len = jn[i].data.len;
    }
    return 0;
}

static int load_state(euicc *e, const char *path, euicc_error *err)
{
    size_t len;
    uint8_t *buf = read_file(path, STATE_MAX, &len);
    if (!buf) {
        euicc_impl_err(err, 0, -1, "system", "%s: cannot read", path);
        return -1;
    }
    rsp_arena *a = rsp_arena_new(4 * STATE_MAX);
    if (!a) {
        free(buf);
        euicc_impl_err(err, 0, -1, "system", "out of memory");
        return -1;
    }
    struct j_state st;
    rsp_json_err je;
    rsp_json_limits lim = {.max_bytes = STATE_MAX, .max_tokens = 1u << 20, .max_depth = 8};
    int rc = -1;
    if (rsp_json_parse(a, (const char *)buf, len, &lim, state_fields, &st, &je) != RSP_OK) {
        char msg[160];
        euicc_impl_err(err, 0, -1, "system", STATE_FILE ": %s", rsp_json_err_message(&je, msg, sizeof(msg)));
    } else {
        rc = apply_state(e, &st, err);
    }
    rsp_arena_free(a);
    free(buf);
    return rc;
}

static void w_version(rsp_jsonw *w, const char *key, const uint8_t v[3])
{
    char s[16];
    snprintf(s, sizeof(s), "%u.%u.%u", v[0], v[1], v[2]);
    rsp_jsonw_kstr(w, key, s);
}

static void w_skis(rsp_jsonw *w, const char *key, const uint8_t list[][RSP_SKI_MAX], const size_t *lens,
                   size_t n)
{
    rsp_jsonw_key(w, key);
    rsp_jsonw_arr_begin(w);
    for (size_t i = 0; i < n; i++) {
        rsp_jsonw_obj_begin(w);
        rsp_jsonw_khex(w, "ski", list[i], lens[i]);
        rsp_jsonw_obj_end(w);
    }
    rsp_jsonw_arr_end(w);
}

static int save_state(const euicc *e, const char *path)
{
    rsp_jsonw w;
    rsp_jsonw_init(&w, NULL, STATE_MAX);
    const euicc_config *c = &e->cfg;
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_kint(&w, "version", 1);
    rsp_jsonw_kstr(&w, "eid", e->eid);
    w_version(&w, "svn", c->svn);
    w_version(&w, "profileVersion", c->profile_version);
    w_version(&w, "firmwareVersion", c->firmware_version);
    w_version(&w, "ppVersion", c->pp_version);
    rsp_jsonw_kstr(&w, "sasAccreditationNumber", c->sas_accreditation);
    rsp_jsonw_kstr(&w, "defaultSmdpAddress", c->default_smdp);
    rsp_jsonw_kstr(&w, "rootSmdsAddress", c->root_smds);
    rsp_jsonw_kint(&w, "uiccCapability", c->uicc_capability);
    rsp_jsonw_kint(&w, "rspCapability", c->rsp_capability);
    rsp_jsonw_kint(&w, "freeNvm", c->free_nvm);
    rsp_jsonw_kint(&w, "nextSeqNumber", e->next_seq);
    w_skis(&w, "ciPKIdListForVerification", e->ski_verify, e->ski_verify_len, e->nverify);
    w_skis(&w, "ciPKIdListForSigning", e->ski_sign, e->ski_sign_len, e->nsign);
    rsp_jsonw_key(&w, "profiles");
    rsp_jsonw_arr_begin(&w);
    static const char *const notify_keys[4] = {NULL, "notifyEnable", "notifyDisable", "notifyDelete"};
    for (size_t i = 0; i < e->nprofiles; i++) {
        const euicc_profile *p = &e->profiles[i];
        rsp_jsonw_obj_begin(&w);
        rsp_jsonw_kstr(&w, "iccid", p->iccid_str);
        rsp_jsonw_kstr(&w, "state", p->enabled ? "enabled" : "disabled");
        rsp_jsonw_kstr(&w, "profileName", p->name);
        rsp_jsonw_kstr(&w, "serviceProviderName", p->spn);
        rsp_jsonw_kint(&w, "profileClass", p->profile_class);
        rsp_jsonw_khex(&w, "aid", p->aid, p->aid_len);
        rsp_jsonw_khex(&w, "packageSha256", p->package_sha256, 32);
        rsp_jsonw_kstr(&w, "smdpAddress", p->smdp_address);
        rsp_jsonw_kstr(&w, "smdpOid", p->smdp_oid);
        for (int b = 1; b < 4; b++)
            if (p->notify_address[b])
                rsp_jsonw_kstr(&w, notify_keys[b], p->notify_address[b]);
        rsp_jsonw_obj_end(&w);
    }
    rsp_jsonw_arr_end(&w);
    rsp_jsonw_key(&w, "notifications");
    rsp_jsonw_arr_begin(&w);
    for (size_t i = 0; i < e->nnotifs; i++) {
        const euicc_notification *n = &e->notifs[i];
        rsp_jsonw_obj_begin(&w);
        rsp_jsonw_kint(&w, "seqNumber", n->seq);
        rsp_jsonw_kstr(&w, "event", event_names[n->event & 3]);
        rsp_jsonw_kstr(&w, "address", n->address);
        if (n->iccid_str[0])
            rsp_jsonw_kstr(&w, "iccid", n->iccid_str);
        rsp_jsonw_kbase64(&w, "data", n->der, n->len);
        rsp_jsonw_obj_end(&w);
    }
    rsp_jsonw_arr_end(&w);
    rsp_jsonw_obj_end(&w);
    const char *text;
    size_t len;
    int rc = rsp_jsonw_finish(&w, &text, &len);
    if (rc == 0) {
        /* One newline at the end for people who cat the file. */
        char *copy = malloc(len + 1);
        rc = -1;
        if (copy) {
            memcpy(copy, text, len);
            copy[len] = '\n';
            rc = write_atomic(path, copy, len + 1, 0644);
            free(copy);
        }
    }
    rsp_jsonw_free(&w);
    return rc;
}

/* ---- load / save ---- */

/* Appends every certificate of a file (DER, or one or more PEM blocks) to pool. */
static int pool_add_file(const char *path, X509 **pool, size_t *n, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    X509 *x;
    size_t before = *n;
    while (*n < cap && (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
        pool[(*n)++] = x;
    fclose(f);
    ERR_clear_error();
    if (*n == before && *n < cap && (x = rsp_load_cert(path)) != NULL)
        pool[(*n)++] = x;
    return *n > before ? 0 : -1;
}

/* Orders the pool from the eUICC certificate up by AKI = SKI: out[0] is the
 * issuer of cert (nextCertInChain), then each next issuer found in the pool.
 * Certificates off that path are left out.  Returns the number ordered. */
static size_t pool_order(X509 *cert, X509 *const *pool, size_t n, X509 **out)
{
    size_t k = 0;
    bool used[EUICC_OTHERS_MAX + 2] = {false};
    for (X509 *cur = cert; k < n;) {
        const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(cur);
        size_t j = 0;
        for (; aki && j < n; j++) {
            const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(pool[j]);
            if (!used[j] && ski && ASN1_OCTET_STRING_cmp(aki, ski) == 0)
                break;
        }
        if (!aki || j == n)
            break;
        used[j] = true;
        out[k++] = cur = pool[j];
    }
    return k;
}

/* The eUICC from its certificate, key, the files holding its EUM (and, v3,
 * sub-CAs: any order, one or more per file) and its CIs. */
static euicc *load_pool(const char *cert_path, const char *key_path, const char *const *pool_paths,
                        size_t npool, const char *const *ci_paths, size_t nci, euicc_error *err)
{
    enum { POOL_MAX = EUICC_OTHERS_MAX + 2 };
    euicc *e = euicc_new();
    X509 *cert = rsp_load_cert(cert_path), *pool[POOL_MAX], *chain[POOL_MAX];
    size_t n = 0;
    EVP_PKEY *key = rsp_load_key(key_path);
    bool pool_ok = true;
    for (size_t i = 0; i < npool && pool_ok; i++)
        pool_ok = pool_add_file(pool_paths[i], pool, &n, POOL_MAX) == 0;
    if (!e || !cert || !key || !pool_ok) {
        euicc_impl_err(err, 0, -1, "system", "cannot load %s, %s or %s", cert_path, key_path,
                       npool ? pool_paths[0] : "(no EUM)");
        goto fail;
    }
    /* nextCertInChain is the eUICC's issuer; without a path (a broken test chain) the first given */
    size_t k = pool_order(cert, pool, n, chain);
    if (k == 0)
        chain[k++] = pool[0];
    if (euicc_set_identity(e, cert, key, chain[0], err) != 0)
        goto fail;
    if (euicc_set_others(e, chain + 1, k - 1) != 0) {
        euicc_impl_err(err, 0, -1, "system", "too many certificates in the eUICC's chain");
        goto fail;
    }
    for (size_t i = 0; i < nci; i++) {
        X509 *ci = rsp_load_cert(ci_paths[i]);
        int rc = ci ? euicc_add_ci(e, ci) : EUICC_ESYS;
        X509_free(ci);
        if (rc != 0) {
            euicc_impl_err(err, 0, -1, "system", "%s: not a usable CI certificate", ci_paths[i]);
            goto fail;
        }
    }
    goto out;
fail:
    euicc_free(e);
    e = NULL;
out:
    X509_free(cert);
    for (size_t i = 0; i < n; i++)
        X509_free(pool[i]);
    EVP_PKEY_free(key);
    return e;
}

euicc *euicc_load_files(const char *cert_path, const char *key_path, const char *eum_path,
                        const char *const *ci_paths, size_t nci, euicc_error *err)
{
    return load_pool(cert_path, key_path, &eum_path, 1, ci_paths, nci, err);
}

euicc *euicc_load_dir(const char *dir, euicc_error *err)
{
    char p_cert[PATH_MAX], p_key[PATH_MAX], p_eum[PATH_MAX], p_ci[PATH_MAX], p_state[PATH_MAX],
        p_otk[PATH_MAX];
    if (find_cert_file(dir, "euicc", p_cert, sizeof(p_cert)) != 0 ||
        find_cert_file(dir, "eum", p_eum, sizeof(p_eum)) != 0 ||
        path_join(p_key, sizeof(p_key), dir, "euicc.key.pem") != 0 || !file_exists(p_key) ||
        path_join(p_ci, sizeof(p_ci), dir, "ci") != 0 ||
        path_join(p_state, sizeof(p_state), dir, STATE_FILE) != 0 ||
        path_join(p_otk, sizeof(p_otk), dir, "otk.pem") != 0) {
        euicc_impl_err(err, 0, -1, "system", "%s: not an eUICC directory (euicc.der, euicc.key.pem, eum.der)",
                       dir);
        return NULL;
    }
    size_t nci;
    char **cis = list_cert_files(p_ci, &nci);
    if (nci == 0) {
        free_names(cis, nci);
        euicc_impl_err(err, 0, -1, "system", "%s: no CI certificate", p_ci);
        return NULL;
    }
    euicc *e = euicc_load_files(p_cert, p_key, p_eum, (const char *const *)cis, nci, err);
    free_names(cis, nci);
    if (!e)
        return NULL;
    if (file_exists(p_state) && load_state(e, p_state, err) != 0)
        goto fail;
    if (file_exists(p_otk)) {
        e->kept_otk = rsp_load_key(p_otk);
        if (!e->kept_otk) {
            euicc_impl_err(err, 0, -1, "system", "%s: cannot load", p_otk);
            goto fail;
        }
    }
    return e;
fail:
    euicc_free(e);
    return NULL;
}

static int write_key_pem(const char *path, EVP_PKEY *key)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (!b)
        return -1;
    int rc = -1;
    if (PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) == 1) {
        char *data;
        long n = BIO_get_mem_data(b, &data);
        if (n > 0)
            rc = write_atomic(path, data, (size_t)n, 0600);
    }
    BIO_free(b);
    return rc;
}

int euicc_save_dir(const euicc *e, const char *dir, euicc_error *err)
{
    char p_state[PATH_MAX], p_otk[PATH_MAX];
    if (path_join(p_state, sizeof(p_state), dir, STATE_FILE) != 0 ||
        path_join(p_otk, sizeof(p_otk), dir, "otk.pem") != 0) {
        euicc_impl_err(err, 0, -1, "system", "path too long");
        return EUICC_ESYS;
    }
    if (save_state(e, p_state) != 0) {
        euicc_impl_err(err, 0, -1, "system", "%s: cannot write: %s", p_state, strerror(errno));
        return EUICC_ESYS;
    }
    if (e->kept_otk) {
        if (write_key_pem(p_otk, e->kept_otk) != 0) {
            euicc_impl_err(err, 0, -1, "system", "%s: cannot write", p_otk);
            return EUICC_ESYS;
        }
    } else if (unlink(p_otk) != 0 && errno != ENOENT) {
        euicc_impl_err(err, 0, -1, "system", "%s: cannot remove: %s", p_otk, strerror(errno));
        return EUICC_ESYS;
    }
    return EUICC_OK;
}

/* ---- init from PKI material ---- */

struct material {
    char cert[PATH_MAX], key[PATH_MAX];
    char pool[4][PATH_MAX]; /* the EUM and any sub-CAs (files) */
    size_t npool;
    char ci[4][PATH_MAX];
    const char *ci_name[4];
    size_t nci;
};

static bool add_pool_path(struct material *m, const char *path)
{
    if (m->npool == 4 || !file_exists(path))
        return false;
    snprintf(m->pool[m->npool++], sizeof(m->pool[0]), "%s", path);
    return true;
}

static void add_ci_path(struct material *m, const char *path, const char *name)
{
    if (m->nci < 4 && file_exists(path)) {
        snprintf(m->ci[m->nci], sizeof(m->ci[0]), "%s", path);
        m->ci_name[m->nci++] = name;
    }
}

/* The eUICC directory in set/euicc/: eid's, or the first one. */
static int pick_euicc(const char *set, const char *eid, char *out, size_t cap)
{
    char edir[PATH_MAX];
    if (path_join(edir, sizeof(edir), set, "euicc") != 0)
        return -1;
    if (eid) {
        if (path_join(out, cap, edir, eid) != 0 || !dir_exists(out))
            return -1;
        return 0;
    }
    DIR *d = opendir(edir);
    if (!d)
        return -1;
    char best[NAME_MAX + 1] = "";
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (!best[0] || strcmp(de->d_name, best) < 0)
            snprintf(best, sizeof(best), "%s", de->d_name);
    }
    closedir(d);
    return best[0] && path_join(out, cap, edir, best) == 0 ? 0 : -1;
}

/* rsp-pki layout: a curve set (ci/ci.der ...) or a directory of sets. */
static int find_rsp_pki(const char *pkidir, const char *eid, const char *curve, struct material *m)
{
    char set[PATH_MAX], probe[PATH_MAX], edir[PATH_MAX];
    static const char *const curves[] = {"nist", "brainpool"};
    if (path_join(probe, sizeof(probe), pkidir, "ci/ci.der") == 0 && file_exists(probe)) {
        snprintf(set, sizeof(set), "%s", pkidir);
        add_ci_path(m, probe, "ci");
    } else {
        if (path_join(set, sizeof(set), pkidir, curve) != 0 ||
            path_join(probe, sizeof(probe), set, "ci/ci.der") != 0 || !file_exists(probe))
            return -1;
        for (int i = 0; i < 2; i++) {
            char other[PATH_MAX], sub[PATH_MAX];
            if (path_join(sub, sizeof(sub), pkidir, curves[i]) == 0 &&
                path_join(other, sizeof(other), sub, "ci/ci.der") == 0)
                add_ci_path(m, other, curves[i]);
        }
    }
    char chain[PATH_MAX], eum[PATH_MAX];
    if (pick_euicc(set, eid, edir, sizeof(edir)) != 0 ||
        path_join(chain, sizeof(chain), edir, "chain.pem") != 0 ||
        path_join(eum, sizeof(eum), set, "eum/eum.der") != 0 ||
        (!add_pool_path(m, chain) && !add_pool_path(m, eum)) ||
        path_join(m->cert, sizeof(m->cert), edir, "euicc.der") != 0 ||
        path_join(m->key, sizeof(m->key), edir, "euicc.key.pem") != 0 || !file_exists(m->cert) ||
        !file_exists(m->key))
        return -1;
    return 0;
}

/* SGP.26 layout: named files in their folders, or all in one folder; v2 names (*_ECDSA_*) or v3
 * (*_SIG_*), with the v3 sub-CAs (CERT_EUMSubCA_SIG_*, CERT_CISubCA_SIG_*) when present. */
static int find_sgp26(const char *pkidir, const char *curve, struct material *m)
{
    const char *suf = strcmp(curve, "brainpool") == 0 ? "BRP" : "NIST";
    static const char *const subs[] = {"", "CertificateIssuer/", "EUM/", "eUICC/", "EUMSubCA/", "CISubCA/"};
    static const char *const infix[] = {"ECDSA", "SIG"};
    char name[128], path[PATH_MAX];
    bool got_cert = false, got_key = false, got_eum = false, got_sub[2] = {false, false};
    for (int i = 0; i < 6; i++) {
        for (int v = 0; v < 2; v++) {
            snprintf(name, sizeof(name), "%sCERT_EUICC_%s_%s.der", subs[i], infix[v], suf);
            if (!got_cert && path_join(path, sizeof(path), pkidir, name) == 0 && file_exists(path))
                got_cert = snprintf(m->cert, sizeof(m->cert), "%s", path) > 0;
            snprintf(name, sizeof(name), "%sSK_EUICC_%s_%s.pem", subs[i], infix[v], suf);
            if (!got_key && path_join(path, sizeof(path), pkidir, name) == 0 && file_exists(path))
                got_key = snprintf(m->key, sizeof(m->key), "%s", path) > 0;
            snprintf(name, sizeof(name), "%sCERT_EUM_%s_%s.der", subs[i], infix[v], suf);
            if (!got_eum && path_join(path, sizeof(path), pkidir, name) == 0)
                got_eum = add_pool_path(m, path);
            static const char *const subca[] = {"EUMSubCA", "CISubCA"};
            for (int k = 0; k < 2; k++) {
                snprintf(name, sizeof(name), "%sCERT_%s_%s_%s.der", subs[i], subca[k], infix[v], suf);
                if (!got_sub[k] && path_join(path, sizeof(path), pkidir, name) == 0)
                    got_sub[k] = add_pool_path(m, path);
            }
        }
    }
    static const char *const cis[] = {"NIST", "BRP"};
    static const char *const ci_names[] = {"nist", "brainpool"};
    for (int c = 0; c < 2; c++) {
        bool found = false;
        for (int i = 0; i < 2 && !found; i++) {
            for (int v = 0; v < 2 && !found; v++) {
                snprintf(name, sizeof(name), "%sCERT_CI_%s_%s.der", i ? "CertificateIssuer/" : "", infix[v],
                         cis[c]);
                if (path_join(path, sizeof(path), pkidir, name) == 0 && file_exists(path)) {
                    add_ci_path(m, path, ci_names[c]);
                    found = true;
                }
            }
        }
    }
    return got_cert && got_key && got_eum && m->nci ? 0 : -1;
}

static int write_cert_der(const char *path, X509 *c)
{
    unsigned char *der = NULL;
    int n = i2d_X509(c, &der);
    if (n <= 0)
        return -1;
    int rc = write_atomic(path, der, (size_t)n, 0644);
    OPENSSL_free(der);
    return rc;
}

/* eum.der, or with v3 otherCertsInChain eum.pem holding the EUM certificate and them in order. */
static int write_eum(const char *dir, const euicc *e, char *path, size_t cap)
{
    if (e->nothers == 0)
        return path_join(path, cap, dir, "eum.der") == 0 ? write_cert_der(path, e->eum) : -1;
    if (path_join(path, cap, dir, "eum.pem") != 0)
        return -1;
    BIO *b = BIO_new(BIO_s_mem());
    bool ok = b && PEM_write_bio_X509(b, e->eum);
    for (size_t i = 0; i < e->nothers && ok; i++)
        ok = PEM_write_bio_X509(b, e->others[i]);
    char *data = NULL;
    long len = ok ? BIO_get_mem_data(b, &data) : 0;
    int rc = ok && len > 0 ? write_atomic(path, (const uint8_t *)data, (size_t)len, 0644) : -1;
    BIO_free(b);
    return rc;
}

int euicc_init_dir(const char *dir, const char *pkidir, const char *eid, const char *curve, euicc_error *err)
{
    struct material m;
    memset(&m, 0, sizeof(m));
    if (!curve)
        curve = "nist";
    if (strcmp(curve, "nist") != 0 && strcmp(curve, "brainpool") != 0) {
        euicc_impl_err(err, 0, -1, "system", "curve must be nist or brainpool");
        return EUICC_ESYS;
    }
    if (find_rsp_pki(pkidir, eid, curve, &m) != 0) {
        memset(&m, 0, sizeof(m));
        if (find_sgp26(pkidir, curve, &m) != 0) {
            euicc_impl_err(err, 0, -1, "system",
                           "%s: no rsp-pki set (ci/ci.der, eum/eum.der, euicc/<EID>/) or SGP.26 files "
                           "(CERT_EUICC_{ECDSA,SIG}_*, SK_EUICC_*, CERT_EUM_*, CERT_CI_*)",
                           pkidir);
            return EUICC_ESYS;
        }
    }
    char probe[PATH_MAX];
    if (path_join(probe, sizeof(probe), dir, "euicc.key.pem") != 0 || file_exists(probe)) {
        euicc_impl_err(err, 0, -1, "system", "%s already holds an eUICC", dir);
        return EUICC_ESYS;
    }
    const char *ci_paths[4];
    for (size_t i = 0; i < m.nci; i++)
        ci_paths[i] = m.ci[i];
    const char *pool_paths[4];
    for (size_t i = 0; i < m.npool; i++)
        pool_paths[i] = m.pool[i];
    euicc *e = load_pool(m.cert, m.key, pool_paths, m.npool, ci_paths, m.nci, err);
    int rc = EUICC_ESYS;
    if (!e)
        return rc;
    if (eid && strcmp(eid, e->eid) != 0) {
        euicc_impl_err(err, 0, -1, "system", "the eUICC certificate holds EID %s, not %s", e->eid, eid);
        goto out;
    }
    if (e->nsign == 0) {
        euicc_impl_err(err, 0, -1, "system", "no trusted CI issued the eUICC's chain (EUM or its sub-CAs)");
        goto out;
    }
    char p_ci[PATH_MAX], path[PATH_MAX];
    if ((mkdir(dir, 0755) != 0 && errno != EEXIST) || path_join(p_ci, sizeof(p_ci), dir, "ci") != 0 ||
        (mkdir(p_ci, 0755) != 0 && errno != EEXIST)) {
        euicc_impl_err(err, 0, -1, "system", "%s: cannot create: %s", dir, strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < m.nci; i++) {
        char name[64];
        snprintf(name, sizeof(name), "%s.der", m.ci_name[i]);
        X509 *ci = rsp_load_cert(m.ci[i]);
        int wrc = ci && path_join(path, sizeof(path), p_ci, name) == 0 ? write_cert_der(path, ci) : -1;
        X509_free(ci);
        if (wrc != 0) {
            euicc_impl_err(err, 0, -1, "system", "%s: cannot write", path);
            goto out;
        }
    }
    if (path_join(path, sizeof(path), dir, "euicc.der") != 0 || write_cert_der(path, e->cert) != 0 ||
        write_eum(dir, e, path, sizeof(path)) != 0 ||
        path_join(path, sizeof(path), dir, "euicc.key.pem") != 0 || write_key_pem(path, e->key) != 0) {
        euicc_impl_err(err, 0, -1, "system", "%s: cannot write", path);
        goto out;
    }
    rc = euicc_save_dir(e, dir, err);
out:
    euicc_free(e);
    return rc;
}
