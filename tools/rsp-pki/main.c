/*
 * rsp-pki - writes an SGP.26-shaped test PKI for the SM-DS and the SM-DP+.
 *
 *   rsp-pki init   --out DIR [--curve nist|brainpool|both] [--ci-cert F --ci-key F] ...
 *   rsp-pki euicc  --ca-dir DIR --eid EID --out DIR2 [...]
 *   rsp-pki mint   --kind KIND --out BASE [--issuer-cert F --issuer-key F] [...]
 *   rsp-pki eid    --check EID | --prefix P [--number N]
 *   rsp-pki verify-euicc --ci CERT [--ci CERT ...] --eum CERT --euicc CERT
 *
 * The layout `init` writes is described in usage() and in DIR/README.txt.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/objects.h>

#include "tools/pki/pki.h"
#include "tools/rsp-pki/verify.h"

#define MAX_CI_GIVEN 2

static const char usage_text[] =
    "usage: rsp-pki COMMAND [options]\n"
    "\n"
    "rsp-pki init --out DIR [--curve nist|brainpool|both] [--ci-cert F --ci-key F]...\n"
    "        [--fqdn NAME] [--smdp-fqdn NAME] [--operator-fqdn NAME] [--ds-rid OID] [--dp-rid OID]\n"
    "        [--eid EID] [--eid-prefix P] [--eum-org NAME] [--tls-curve nist|set] [--no-loopback]\n"
    "        [--variant O|Ov3|A|B|C]\n"
    "  Writes a complete test PKI, one set per curve, into DIR/nist/ and/or DIR/brainpool/:\n"
    "    ci/ci.*                   CI (self-signed), or the one given with --ci-cert/--ci-key\n"
    "    eum/eum.*                 EUM, nameConstraints O=<eum-org>, serialNumber=<eid-prefix>\n"
    "    euicc/<EID>/euicc.*       eUICC with subject serialNumber = EID\n"
    "    smds/dsauth.*             CERT.DSauth.ECDSA   (SAN RID ds-rid)\n"
    "    smds/dstls.*              CERT.DS.TLS         (SAN DNS fqdn, RID ds-rid, localhost, 127.0.0.1, "
    "::1)\n"
    "    smdp/dpauth.* dppb.*      CERT.DPauth / CERT.DPpb (SAN RID dp-rid)\n"
    "    smdp/dptls.*              CERT.DP.TLS         (SAN DNS smdp-fqdn, RID dp-rid, localhost, 127.0.0.1, "
    "::1)\n"
    "    operator/ca.*             operator CA (self-signed; trust anchor for ES2+ clients)\n"
    "    operator/client.*         operator ES2+ TLS client certificate (EKU clientAuth)\n"
    "  Every NAME.* is NAME.der and NAME.pem (certificate) and NAME.key.pem (PKCS#8 key, mode 0600).\n"
    "  --variant shapes the chains as the SGP.26 v3 variants (default O: v2 policies, all under the CI):\n"
    "    Ov3 v3 policies under the CI; A: eum-subca/ under the EUM (pathLen 1), smdp/dp-subca.* and\n"
    "    smds/ds-subca.* under the CI; B: ci-subca/ under the CI issuing EUM and servers; C: both.\n"
    "    euicc/<EID>/chain.pem, smdp/chain.pem and smds/chain.pem hold the intermediates below the CI\n"
    "    (the issuer first), as sent in nextCertInChain/otherCertsInChain.\n"
    "  --ci-cert/--ci-key may be given once per curve; the key's curve picks the set.\n"
    "  TLS keys (dstls, dptls, operator/) are P-256 in every set unless --tls-curve set: OpenSSL 3.0\n"
    "  negotiates no brainpool signatures in TLS 1.3, and in TLS 1.2 only with brainpool groups enabled.\n"
    "  Defaults: fqdn " PKI_DEFAULT_DS_FQDN ", smdp-fqdn " PKI_DEFAULT_DP_FQDN ", ds-rid " PKI_DEFAULT_DS_RID
    ", dp-rid " PKI_DEFAULT_DP_RID ",\n"
    "  operator-fqdn " PKI_DEFAULT_OPERATOR_FQDN ", eid-prefix " PKI_SGP26_EID_PREFIX ", eid " PKI_SGP26_EID
    ",\n"
    "  eum-org \"" PKI_SGP26_EUM_ORG "\", curve nist.\n"
    "\n"
    "rsp-pki euicc --ca-dir DIR --eid EID --out DIR2 [--curve C] [--force] [CERT OPTIONS]\n"
    "  Mints another eUICC under the EUM found in DIR/eum/ or DIR/<curve>/eum/ and writes\n"
    "  DIR2/euicc.der, .pem, .key.pem.  A 30-digit EID gets its check digits appended.  An EID\n"
    "  outside the EUM's prefix or with wrong check digits is refused unless --force.\n"
    "\n"
    "rsp-pki mint --kind KIND --out BASE [--issuer-cert F --issuer-key F] [CERT OPTIONS]\n"
    "  One certificate: BASE.der, BASE.pem, BASE.key.pem.  KIND: ci eum euicc dsauth dstls dpauth\n"
    "  dppb dptls operator-ca operator-client ci-subca eum-subca dp-subca ds-subca.  ci and operator-ca\n"
    "  are self-signed.\n"
    "\n"
    "CERT OPTIONS: --curve nist|brainpool  --key F (certify an existing key)  --not-before T  --not-after T\n"
    "  --serial HEX  --country C  --org O  --cn CN  --fqdn NAME  --rid OID ('' for none)  --eid EID\n"
    "  --eid-prefix P  --policy OID  --v3 (the SGP.22 v3 role policy)  --pathlen N|none (CA kinds)\n"
    "  --no-loopback  --defect D (repeatable: wrong-policy no-policy\n"
    "  no-key-usage key-cert-sign no-ski no-aki not-ca no-name-constraints iin-list no-eid\n"
    "  self-signed bad-signature)\n"
    "  T: YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ, YYYYMMDDHHMMSSZ, @UNIX, or +N/-N with d|h|s from now.\n"
    "\n"
    "rsp-pki crl --issuer-cert F --issuer-key F --out FILE [--revoke CERT ...] [--this-update T]\n"
    "        [--next-update T|none]\n"
    "  A test CRL of that issuer (PEM; DER when FILE ends in .der) listing each CERT's serial.\n"
    "  Defaults: thisUpdate now - 1h, nextUpdate now + 7d.\n"
    "\n"
    "rsp-pki eid --check EID | --prefix P [--number N]\n"
    "  --check exits 0 if EID has valid check digits; --prefix prints an EID built from P and N.\n"
    "\n"
    "rsp-pki verify-euicc --ci CERT [--ci CERT ...] --eum CERT [--chain CERT ...] --euicc CERT [--at T]\n"
    "  --eum is the eUICC's issuer (v3 nextCertInChain), each --chain one of otherCertsInChain\n"
    "  (a file may hold several PEM certificates); --crl FILE (repeatable) with --crl-policy refuse|warn.\n"
    "  Checks the chain with the servers' rules: prints OK <EID> (exit 0) or\n"
    "  FAIL <subjectCode>/<reasonCode> <reason> (exit 1).\n";

static void usage(FILE *f)
{
    fputs(usage_text, f);
}

static int fail(const char *fmt, ...)
{
    va_list ap;
    fputs("rsp-pki: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 2;
}

static int mkdirs(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static int join(char *out, size_t cap, const char *a, const char *b)
{
    int n = snprintf(out, cap, "%s/%s", a, b);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int mint_write(const pki_opts *o, const pki_cred *issuer, const char *dir, const char *name,
                      pki_cred *keep)
{
    pki_cred c;
    if (pki_mint(o, issuer, &c) != 0)
        return fail("%s: %s", name, pki_last_error());
    if (mkdirs(dir) != 0 || pki_write_cred(dir, name, &c) != 0) {
        pki_cred_clear(&c);
        return fail("%s/%s: %s", dir, name, *pki_last_error() ? pki_last_error() : strerror(errno));
    }
    if (keep)
        *keep = c;
    else
        pki_cred_clear(&c);
    return 0;
}

/* ---- EID arguments ---- */

/* Normalises an EID argument: 30 digits get check digits; 32 digits must
 * carry valid ones unless force. */
static int eid_arg(const char *in, bool force, char out[PKI_EID_LEN + 1])
{
    size_t n = strlen(in);
    if (n == PKI_EID_LEN - 2)
        return pki_eid_complete(in, out) == 0 ? 0 : fail("%s", pki_last_error());
    if (n != PKI_EID_LEN || strspn(in, "0123456789") != n)
        return fail("EID '%s' must be 30 or 32 decimal digits", in);
    if (!pki_eid_valid(in) && !force)
        return fail("EID '%s' has wrong check digits (use --force to mint it anyway)", in);
    memcpy(out, in, PKI_EID_LEN + 1);
    return 0;
}

/* ---- shared certificate options ---- */

enum {
    OPT_OUT = 256,
    OPT_CURVE,
    OPT_KEY,
    OPT_NOT_BEFORE,
    OPT_NOT_AFTER,
    OPT_SERIAL,
    OPT_COUNTRY,
    OPT_ORG,
    OPT_CN,
    OPT_FQDN,
    OPT_RID,
    OPT_EID,
    OPT_EID_PREFIX,
    OPT_POLICY,
    OPT_NO_LOOPBACK,
    OPT_DEFECT,
    OPT_KIND,
    OPT_ISSUER_CERT,
    OPT_ISSUER_KEY,
    OPT_CA_DIR,
    OPT_FORCE,
    OPT_CI_CERT,
    OPT_CI_KEY,
    OPT_SMDP_FQDN,
    OPT_OPERATOR_FQDN,
    OPT_DS_RID,
    OPT_DP_RID,
    OPT_EUM_ORG,
    OPT_CHECK,
    OPT_PREFIX,
    OPT_NUMBER,
    OPT_TLS_CURVE,
    OPT_V3,
    OPT_PATHLEN,
    OPT_VARIANT,
    OPT_REVOKE,
    OPT_THIS_UPDATE,
    OPT_NEXT_UPDATE,
    OPT_HELP,
};

#define CERT_OPTIONS                                                                                         \
    {"curve", required_argument, NULL, OPT_CURVE}, {"key", required_argument, NULL, OPT_KEY},                \
        {"not-before", required_argument, NULL, OPT_NOT_BEFORE},                                             \
        {"not-after", required_argument, NULL, OPT_NOT_AFTER},                                               \
        {"serial", required_argument, NULL, OPT_SERIAL}, {"country", required_argument, NULL, OPT_COUNTRY},  \
        {"org", required_argument, NULL, OPT_ORG}, {"cn", required_argument, NULL, OPT_CN},                  \
        {"fqdn", required_argument, NULL, OPT_FQDN}, {"rid", required_argument, NULL, OPT_RID},              \
        {"eid", required_argument, NULL, OPT_EID}, {"eid-prefix", required_argument, NULL, OPT_EID_PREFIX},  \
        {"policy", required_argument, NULL, OPT_POLICY},                                                     \
        {"no-loopback", no_argument, NULL, OPT_NO_LOOPBACK},                                                 \
        {"defect", required_argument, NULL, OPT_DEFECT}, {"out", required_argument, NULL, OPT_OUT},          \
        {"v3", no_argument, NULL, OPT_V3}, {"pathlen", required_argument, NULL, OPT_PATHLEN},                \
    {                                                                                                        \
        "help", no_argument, NULL, OPT_HELP                                                                  \
    }

typedef struct cert_cli {
    pki_opts o;
    bool curve_set;
    const char *key_path;
    const char *out;
} cert_cli;

/* Handles one shared option: 1 if handled, 0 if not ours, -1 on a bad value. */
static int cert_option(cert_cli *m, int c, const char *arg)
{
    time_t now = time(NULL);
    unsigned d;
    switch (c) {
    case OPT_CURVE:
        if (pki_curve_parse(arg, &m->o.curve) != 0)
            return -1;
        m->curve_set = true;
        return 1;
    case OPT_KEY:
        m->key_path = arg;
        return 1;
    case OPT_NOT_BEFORE:
        return pki_parse_time(arg, now, &m->o.not_before) == 0 ? 1 : -1;
    case OPT_NOT_AFTER:
        return pki_parse_time(arg, now, &m->o.not_after) == 0 ? 1 : -1;
    case OPT_SERIAL:
        m->o.serial = arg;
        return 1;
    case OPT_COUNTRY:
        m->o.country = arg;
        return 1;
    case OPT_ORG:
        m->o.org = arg;
        return 1;
    case OPT_CN:
        m->o.cn = arg;
        return 1;
    case OPT_FQDN:
        m->o.fqdn = arg;
        return 1;
    case OPT_RID:
        m->o.rid = arg;
        return 1;
    case OPT_EID:
        m->o.eid = arg;
        return 1;
    case OPT_EID_PREFIX:
        m->o.eid_prefix = arg;
        return 1;
    case OPT_POLICY:
        m->o.policy = arg;
        return 1;
    case OPT_NO_LOOPBACK:
        m->o.loopback = false;
        return 1;
    case OPT_DEFECT:
        if (!(d = pki_defect_parse(arg)))
            return -1;
        m->o.defects |= d;
        return 1;
    case OPT_OUT:
        m->out = arg;
        return 1;
    case OPT_V3:
        m->o.v3 = true;
        return 1;
    case OPT_PATHLEN: {
        char *end;
        long n = strtol(arg, &end, 10);
        if (strcmp(arg, "none") == 0) {
            m->o.pathlen = -1;
            return 1;
        }
        if (end == arg || *end || n < 0 || n > 16)
            return -1;
        m->o.pathlen = (int)n + 1;
        return 1;
    }
    default:
        return 0;
    }
}

/* Loads --key and checks its curve against --curve. */
static int cert_key(cert_cli *m, EVP_PKEY **key)
{
    *key = NULL;
    if (!m->key_path)
        return 0;
    if (!(*key = pki_load_key(m->key_path)))
        return fail("%s", pki_last_error());
    pki_curve kc;
    if (pki_key_curve(*key, &kc) != 0)
        return fail("%s: not a P-256 or brainpoolP256r1 key", m->key_path);
    if (m->curve_set && kc != m->o.curve)
        return fail("%s: key is on %s, not %s", m->key_path, pki_curve_name(kc), pki_curve_name(m->o.curve));
    m->o.curve = kc;
    m->o.key = *key;
    return 0;
}

static int load_cred(const char *cert_path, const char *key_path, pki_cred *c)
{
    c->cert = pki_load_cert(cert_path);
    if (!c->cert)
        return fail("%s", pki_last_error());
    c->key = pki_load_key(key_path);
    if (!c->key)
        return fail("%s", pki_last_error());
    if (!pki_key_matches(c->cert, c->key))
        return fail("%s does not match %s", key_path, cert_path);
    return 0;
}

/* ---- mint ---- */

static int cmd_mint(int argc, char **argv)
{
    static const struct option longopts[] = {
        CERT_OPTIONS,
        {"kind", required_argument, NULL, OPT_KIND},
        {"issuer-cert", required_argument, NULL, OPT_ISSUER_CERT},
        {"issuer-key", required_argument, NULL, OPT_ISSUER_KEY},
        {NULL, 0, NULL, 0},
    };
    cert_cli m;
    memset(&m, 0, sizeof(m));
    pki_opts_init(&m.o, PKI_CI);
    m.o.loopback = true;
    bool have_kind = false;
    const char *icert = NULL, *ikey = NULL;
    int c, r;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if ((r = cert_option(&m, c, optarg)) < 0)
            return fail("%s", pki_last_error());
        if (r > 0)
            continue;
        switch (c) {
        case OPT_KIND:
            if (pki_kind_parse(optarg, &m.o.kind) != 0)
                return fail("%s", pki_last_error());
            have_kind = true;
            break;
        case OPT_ISSUER_CERT:
            icert = optarg;
            break;
        case OPT_ISSUER_KEY:
            ikey = optarg;
            break;
        case OPT_HELP:
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || !have_kind || !m.out || !icert != !ikey) {
        usage(stderr);
        return 2;
    }

    char dir[PATH_MAX], name[PATH_MAX];
    const char *slash = strrchr(m.out, '/');
    snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - m.out) : 1, slash ? m.out : ".");
    snprintf(name, sizeof(name), "%s", slash ? slash + 1 : m.out);
    if (!*name)
        return fail("--out needs a file name base, not a directory");
    if (!*dir)
        snprintf(dir, sizeof(dir), "/");

    pki_cred issuer = {NULL, NULL};
    EVP_PKEY *key = NULL;
    int rc = 2;
    if (icert && load_cred(icert, ikey, &issuer) != 0)
        goto out;
    if (cert_key(&m, &key) != 0)
        goto out;
    rc = mint_write(&m.o, icert ? &issuer : NULL, dir, name, NULL);
out:
    pki_cred_clear(&issuer);
    EVP_PKEY_free(key);
    return rc;
}

/* ---- euicc ---- */

/* Finds DIR/eum or DIR/<curve>/eum holding eum.pem and eum.key.pem. */
static int find_eum(const char *ca_dir, const cert_cli *m, char *out, size_t cap)
{
    char cand[PATH_MAX], probe[PATH_MAX];
    const char *subs[3] = {"", "nist/", "brainpool/"};
    if (m->curve_set) {
        subs[1] = m->o.curve == PKI_CURVE_BRAINPOOL ? "brainpool/" : "nist/";
        subs[2] = NULL;
    }
    for (size_t i = 0; i < 3 && subs[i]; i++) {
        struct stat st;
        if (snprintf(cand, sizeof(cand), "%s/%seum", ca_dir, subs[i]) >= (int)sizeof(cand) ||
            join(probe, sizeof(probe), cand, "eum.key.pem") != 0)
            continue;
        if (stat(probe, &st) == 0) {
            snprintf(out, cap, "%s", cand);
            return 0;
        }
    }
    return -1;
}

static int cmd_euicc(int argc, char **argv)
{
    static const struct option longopts[] = {
        CERT_OPTIONS,
        {"ca-dir", required_argument, NULL, OPT_CA_DIR},
        {"force", no_argument, NULL, OPT_FORCE},
        {NULL, 0, NULL, 0},
    };
    cert_cli m;
    memset(&m, 0, sizeof(m));
    pki_opts_init(&m.o, PKI_EUICC);
    const char *ca_dir = NULL;
    bool force = false;
    int c, r;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if ((r = cert_option(&m, c, optarg)) < 0)
            return fail("%s", pki_last_error());
        if (r > 0)
            continue;
        switch (c) {
        case OPT_CA_DIR:
            ca_dir = optarg;
            break;
        case OPT_FORCE:
            force = true;
            break;
        case OPT_HELP:
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || !ca_dir || !m.out || !m.o.eid) {
        usage(stderr);
        return 2;
    }
    char eid[PKI_EID_LEN + 1];
    if (eid_arg(m.o.eid, force, eid) != 0)
        return 2;
    m.o.eid = eid;

    char eum_dir[PATH_MAX], cert_path[PATH_MAX], key_path[PATH_MAX];
    if (find_eum(ca_dir, &m, eum_dir, sizeof(eum_dir)) != 0)
        return fail("%s: no eum/eum.pem with eum.key.pem here or under %s", ca_dir,
                    m.curve_set ? pki_curve_name(m.o.curve) : "nist/ or brainpool/");
    if (join(cert_path, sizeof(cert_path), eum_dir, "eum.pem") != 0 ||
        join(key_path, sizeof(key_path), eum_dir, "eum.key.pem") != 0)
        return fail("path too long");

    pki_cred eum = {NULL, NULL};
    EVP_PKEY *key = NULL;
    char org[256];
    int rc = 2;
    if (load_cred(cert_path, key_path, &eum) != 0)
        goto out;
    int permitted = pki_eum_permits_eid(eum.cert, eid);
    if (permitted != 1 && !force) {
        fail("EID %s is outside the EUM's %s (use --force to mint it anyway)", eid,
             permitted < 0 ? "(missing) EID prefixes" : "EID prefixes");
        goto out;
    }
    if (!m.o.org && pki_subject_text(eum.cert, NID_organizationName, org, sizeof(org)) == 0)
        m.o.org = org;
    if (!m.curve_set)
        pki_key_curve(eum.key, &m.o.curve);
    if (cert_key(&m, &key) != 0)
        goto out;
    rc = mint_write(&m.o, &eum, m.out, "euicc", NULL);
out:
    pki_cred_clear(&eum);
    EVP_PKEY_free(key);
    return rc;
}

/* ---- init ---- */

typedef struct init_params {
    const char *out;
    const char *ds_fqdn, *dp_fqdn, *op_fqdn, *ds_rid, *dp_rid, *eum_org, *prefix;
    char eid[PKI_EID_LEN + 1];
    bool loopback;
    bool tls_same_curve; /* TLS keys on the set's curve instead of P-256 */
    const char *variant; /* O, Ov3, A, B or C */
} init_params;

/* A sub-CA (or another CA) of a set: minted into set/sub/name.* under issuer. */
static int mint_ca(const char *set, const char *sub, pki_kind kind, pki_curve curve, const init_params *p,
                   const pki_cred *issuer, pki_cred *out)
{
    char dir[PATH_MAX];
    pki_opts o;
    pki_opts_init(&o, kind);
    o.curve = curve;
    o.v3 = true;
    if (kind == PKI_EUM_SUBCA) {
        o.org = p->eum_org;
        o.eid_prefix = p->prefix;
    }
    if (join(dir, sizeof(dir), set, sub) != 0)
        return fail("path too long");
    return mint_write(&o, issuer, dir, pki_kind_name(kind), out);
}

/* Writes dir/chain.pem with the n intermediates (n may be 0: an empty list is not written). */
static int write_chain(const char *set, const char *sub, X509 *const *certs, size_t n)
{
    char dir[PATH_MAX], path[PATH_MAX];
    if (join(dir, sizeof(dir), set, sub) != 0 || join(path, sizeof(path), dir, "chain.pem") != 0)
        return fail("path too long");
    if (n == 0)
        return 0;
    return mkdirs(dir) == 0 && pki_write_certs_pem(path, certs, n) == 0 ? 0 : fail("%s: cannot write", path);
}

static int make_set(const init_params *p, pki_curve curve, const pki_cred *given_ci)
{
    char set[PATH_MAX], dir[PATH_MAX], sub[PATH_MAX];
    if (join(set, sizeof(set), p->out, pki_curve_name(curve)) != 0)
        return fail("path too long");
    pki_opts o;
    pki_cred ci = {NULL, NULL}, eum = {NULL, NULL}, opca = {NULL, NULL}, cisub = {NULL, NULL},
             eumsub = {NULL, NULL}, dpsub = {NULL, NULL}, dssub = {NULL, NULL};
    const char *v = p->variant;
    bool v3 = strcmp(v, "O") != 0, has_eum_sub = !strcmp(v, "A") || !strcmp(v, "C"),
         has_ci_sub = !strcmp(v, "B") || !strcmp(v, "C");
    int rc = 2;

    if (join(dir, sizeof(dir), set, "ci") != 0)
        goto out;
    if (given_ci) {
        if (!X509_up_ref(given_ci->cert))
            goto out;
        ci.cert = given_ci->cert;
        if (!EVP_PKEY_up_ref(given_ci->key))
            goto out;
        ci.key = given_ci->key;
        if (mkdirs(dir) != 0 || pki_write_cred(dir, "ci", &ci) != 0) {
            fail("%s: %s", dir, pki_last_error());
            goto out;
        }
    } else {
        pki_opts_init(&o, PKI_CI);
        o.curve = curve;
        if (mint_write(&o, NULL, dir, "ci", &ci) != 0)
            goto out;
    }
    const pki_cred *top = &ci;
    if (has_ci_sub) {
        if (mint_ca(set, "ci-subca", PKI_CI_SUBCA, curve, p, &ci, &cisub) != 0)
            goto out;
        top = &cisub;
    }

    pki_opts_init(&o, PKI_EUM);
    o.curve = curve;
    o.org = p->eum_org;
    o.eid_prefix = p->prefix;
    o.v3 = v3;
    if (has_eum_sub)
        o.pathlen = 2; /* pathLen 1: the EUM sub-CA below it */
    if (join(dir, sizeof(dir), set, "eum") != 0 || mint_write(&o, top, dir, "eum", &eum) != 0)
        goto out;
    if (has_eum_sub && mint_ca(set, "eum-subca", PKI_EUM_SUBCA, curve, p, &eum, &eumsub) != 0)
        goto out;

    pki_opts_init(&o, PKI_EUICC);
    o.curve = curve;
    o.org = p->eum_org;
    o.eid = p->eid;
    o.v3 = v3;
    X509 *euicc_chain[3];
    size_t nchain = 0;
    if (has_eum_sub)
        euicc_chain[nchain++] = eumsub.cert;
    euicc_chain[nchain++] = eum.cert;
    if (has_ci_sub)
        euicc_chain[nchain++] = cisub.cert;
    if (join(sub, sizeof(sub), set, "euicc") != 0 || join(dir, sizeof(dir), sub, p->eid) != 0 ||
        mint_write(&o, has_eum_sub ? &eumsub : &eum, dir, "euicc", NULL) != 0 ||
        pki_write_certs_pem(strcat(dir, "/chain.pem"), euicc_chain, nchain) != 0)
        goto out;

    /* Servers: under a DP/DS sub-CA (A, C), or under the CI or CI sub-CA. */
    const pki_cred *dp_issuer = top, *ds_issuer = top;
    if (has_eum_sub) {
        if (mint_ca(set, "smdp", PKI_DP_SUBCA, curve, p, top, &dpsub) != 0 ||
            mint_ca(set, "smds", PKI_DS_SUBCA, curve, p, top, &dssub) != 0)
            goto out;
        dp_issuer = &dpsub;
        ds_issuer = &dssub;
    }
    X509 *dp_chain[2], *ds_chain[2];
    size_t ndp = 0, nds = 0;
    if (dpsub.cert)
        dp_chain[ndp++] = dpsub.cert, ds_chain[nds++] = dssub.cert;
    if (cisub.cert)
        dp_chain[ndp++] = cisub.cert, ds_chain[nds++] = cisub.cert;
    if (write_chain(set, "smdp", dp_chain, ndp) != 0 || write_chain(set, "smds", ds_chain, nds) != 0)
        goto out;
    static const struct {
        pki_kind kind;
        const char *dir, *name;
    } servers[] = {
        {PKI_DS_AUTH, "smds", "dsauth"}, {PKI_DS_TLS, "smds", "dstls"}, {PKI_DP_AUTH, "smdp", "dpauth"},
        {PKI_DP_PB, "smdp", "dppb"},     {PKI_DP_TLS, "smdp", "dptls"},
    };
    for (size_t i = 0; i < sizeof(servers) / sizeof(servers[0]); i++) {
        bool ds = servers[i].kind == PKI_DS_AUTH || servers[i].kind == PKI_DS_TLS;
        pki_opts_init(&o, servers[i].kind);
        o.curve = curve;
        o.v3 = v3;
        o.rid = ds ? p->ds_rid : p->dp_rid;
        o.fqdn = ds ? p->ds_fqdn : p->dp_fqdn;
        if (servers[i].kind != PKI_DS_TLS && servers[i].kind != PKI_DP_TLS)
            o.fqdn = NULL;
        o.loopback = p->loopback;
        if (o.fqdn && !p->tls_same_curve)
            o.curve = PKI_CURVE_NIST;
        if (join(dir, sizeof(dir), set, servers[i].dir) != 0 ||
            mint_write(&o, ds ? ds_issuer : dp_issuer, dir, servers[i].name, NULL) != 0)
            goto out;
    }

    if (join(dir, sizeof(dir), set, "operator") != 0)
        goto out;
    pki_opts_init(&o, PKI_OPERATOR_CA);
    o.curve = p->tls_same_curve ? curve : PKI_CURVE_NIST;
    if (mint_write(&o, NULL, dir, "ca", &opca) != 0)
        goto out;
    pki_opts_init(&o, PKI_OPERATOR_CLIENT);
    o.curve = p->tls_same_curve ? curve : PKI_CURVE_NIST;
    o.fqdn = p->op_fqdn;
    if (mint_write(&o, &opca, dir, "client", NULL) != 0)
        goto out;
    printf("%s: %s CI, variant %s, EUM prefix %s, eUICC %s\n", set, given_ci ? "given" : "new", v, p->prefix,
           p->eid);
    rc = 0;
out:
    pki_cred_clear(&ci);
    pki_cred_clear(&eum);
    pki_cred_clear(&opca);
    pki_cred_clear(&cisub);
    pki_cred_clear(&eumsub);
    pki_cred_clear(&dpsub);
    pki_cred_clear(&dssub);
    return rc;
}

static int write_readme(const init_params *p, bool nist, bool brp)
{
    char path[PATH_MAX];
    if (join(path, sizeof(path), p->out, "README.txt") != 0)
        return fail("path too long");
    FILE *f = fopen(path, "w");
    if (!f)
        return fail("%s: %s", path, strerror(errno));
    fprintf(f,
            "Test PKI written by rsp-pki init (GSMA SGP.26 shapes).  Not for production.\n"
            "\n"
            "Sets:%s%s\n"
            "Per set (<curve>/):\n"
            "  ci/ci.*                 CI, policy 2.23.146.1.2.1.0 (trust anchor for everything below\n"
            "                          except operator/)\n"
            "  eum/eum.*               EUM, policy 2.23.146.1.2.1.2, nameConstraints O=%s, serialNumber=%s\n"
            "  euicc/%s/euicc.*  eUICC, policy 2.23.146.1.2.1.1\n"
            "  smds/dsauth.*           CERT.DSauth.ECDSA, policy 2.23.146.1.2.1.7, SAN RID %s\n"
            "  smds/dstls.*            CERT.DS.TLS, policy 2.23.146.1.2.1.6, SAN DNS %s, RID %s%s\n"
            "  smdp/dpauth.*           CERT.DPauth.ECDSA, policy 2.23.146.1.2.1.4, SAN RID %s\n"
            "  smdp/dppb.*             CERT.DPpb.ECDSA, policy 2.23.146.1.2.1.5, SAN RID %s\n"
            "  smdp/dptls.*            CERT.DP.TLS, policy 2.23.146.1.2.1.3, SAN DNS %s, RID %s%s\n"
            "  operator/ca.*           operator CA (trust anchor for ES2+ client certificates)\n"
            "  operator/client.*       operator ES2+ TLS client certificate, SAN DNS %s\n"
            "\n"
            "NAME.der and NAME.pem hold the certificate, NAME.key.pem its private key (PKCS#8).\n"
            "TLS keys (dstls, dptls, operator/): %s.\n",
            nist ? " nist/ (NIST P-256)" : "", brp ? " brainpool/ (brainpoolP256r1)" : "", p->eum_org,
            p->prefix, p->eid, p->ds_rid, p->ds_fqdn, p->ds_rid,
            p->loopback ? ", localhost, 127.0.0.1, ::1" : "", p->dp_rid, p->dp_rid, p->dp_fqdn, p->dp_rid,
            p->loopback ? ", localhost, 127.0.0.1, ::1" : "", p->op_fqdn,
            p->tls_same_curve ? "on the set's curve" : "NIST P-256 in every set, signed by the set's CI");
    return fclose(f) == 0 ? 0 : fail("%s: write failed", path);
}

static int cmd_init(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"out", required_argument, NULL, OPT_OUT},
        {"curve", required_argument, NULL, OPT_CURVE},
        {"ci-cert", required_argument, NULL, OPT_CI_CERT},
        {"ci-key", required_argument, NULL, OPT_CI_KEY},
        {"fqdn", required_argument, NULL, OPT_FQDN},
        {"smds-fqdn", required_argument, NULL, OPT_FQDN},
        {"smdp-fqdn", required_argument, NULL, OPT_SMDP_FQDN},
        {"operator-fqdn", required_argument, NULL, OPT_OPERATOR_FQDN},
        {"ds-rid", required_argument, NULL, OPT_DS_RID},
        {"dp-rid", required_argument, NULL, OPT_DP_RID},
        {"eid", required_argument, NULL, OPT_EID},
        {"eid-prefix", required_argument, NULL, OPT_EID_PREFIX},
        {"eum-org", required_argument, NULL, OPT_EUM_ORG},
        {"no-loopback", no_argument, NULL, OPT_NO_LOOPBACK},
        {"tls-curve", required_argument, NULL, OPT_TLS_CURVE},
        {"variant", required_argument, NULL, OPT_VARIANT},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    init_params p = {
        .ds_fqdn = PKI_DEFAULT_DS_FQDN,
        .dp_fqdn = PKI_DEFAULT_DP_FQDN,
        .op_fqdn = PKI_DEFAULT_OPERATOR_FQDN,
        .ds_rid = PKI_DEFAULT_DS_RID,
        .dp_rid = PKI_DEFAULT_DP_RID,
        .eum_org = PKI_SGP26_EUM_ORG,
        .loopback = true,
        .variant = "O",
    };
    const char *ci_cert[MAX_CI_GIVEN], *ci_key[MAX_CI_GIVEN];
    size_t n_cert = 0, n_key = 0;
    const char *eid = NULL, *curve = "nist";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_OUT:
            p.out = optarg;
            break;
        case OPT_CURVE:
            curve = optarg;
            break;
        case OPT_CI_CERT:
            if (n_cert == MAX_CI_GIVEN)
                return fail("--ci-cert at most %d times (one per curve)", MAX_CI_GIVEN);
            ci_cert[n_cert++] = optarg;
            break;
        case OPT_CI_KEY:
            if (n_key == MAX_CI_GIVEN)
                return fail("--ci-key at most %d times (one per curve)", MAX_CI_GIVEN);
            ci_key[n_key++] = optarg;
            break;
        case OPT_FQDN:
            p.ds_fqdn = optarg;
            break;
        case OPT_SMDP_FQDN:
            p.dp_fqdn = optarg;
            break;
        case OPT_OPERATOR_FQDN:
            p.op_fqdn = optarg;
            break;
        case OPT_DS_RID:
            p.ds_rid = optarg;
            break;
        case OPT_DP_RID:
            p.dp_rid = optarg;
            break;
        case OPT_EID:
            eid = optarg;
            break;
        case OPT_EID_PREFIX:
            p.prefix = optarg;
            break;
        case OPT_EUM_ORG:
            p.eum_org = optarg;
            break;
        case OPT_NO_LOOPBACK:
            p.loopback = false;
            break;
        case OPT_VARIANT:
            if (strcmp(optarg, "O") && strcmp(optarg, "Ov3") && strcmp(optarg, "A") && strcmp(optarg, "B") &&
                strcmp(optarg, "C"))
                return fail("--variant must be O, Ov3, A, B or C");
            p.variant = optarg;
            break;
        case OPT_TLS_CURVE:
            if (strcmp(optarg, "set") != 0 && strcmp(optarg, "nist") != 0)
                return fail("--tls-curve must be nist or set");
            p.tls_same_curve = strcmp(optarg, "set") == 0;
            break;
        case OPT_HELP:
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || !p.out || n_cert != n_key) {
        usage(stderr);
        return 2;
    }
    bool want[2] = {false, false};
    pki_curve one;
    if (strcmp(curve, "both") == 0)
        want[0] = want[1] = true;
    else if (pki_curve_parse(curve, &one) == 0)
        want[one] = true;
    else
        return fail("--curve must be nist, brainpool or both");

    /* EID and prefix: each defaults from the other, then from SGP.26. */
    if (p.prefix &&
        (!*p.prefix || strlen(p.prefix) > 29 || strspn(p.prefix, "0123456789") != strlen(p.prefix)))
        return fail("--eid-prefix must be 1 to 29 decimal digits");
    if (eid) {
        if (eid_arg(eid, false, p.eid) != 0)
            return 2;
        if (!p.prefix)
            p.prefix = strncmp(p.eid, PKI_SGP26_EID_PREFIX, 8) == 0 ? PKI_SGP26_EID_PREFIX : NULL;
    } else if (!p.prefix || strncmp(PKI_SGP26_EID, p.prefix, strlen(p.prefix)) == 0) {
        memcpy(p.eid, PKI_SGP26_EID, sizeof(p.eid));
    } else if (pki_eid_make(p.prefix, 1, p.eid) != 0) {
        return fail("%s", pki_last_error());
    }
    static char prefix8[9];
    if (!p.prefix) {
        memcpy(prefix8, p.eid, 8);
        p.prefix = prefix8;
    }
    if (strncmp(p.eid, p.prefix, strlen(p.prefix)) != 0)
        return fail("EID %s is outside --eid-prefix %s", p.eid, p.prefix);

    pki_cred given[2] = {{NULL, NULL}, {NULL, NULL}};
    int rc = 2;
    for (size_t i = 0; i < n_cert; i++) {
        pki_cred g = {NULL, NULL};
        pki_curve gc;
        if (load_cred(ci_cert[i], ci_key[i], &g) != 0) {
            pki_cred_clear(&g);
            goto out;
        }
        if (pki_key_curve(g.key, &gc) != 0 || !want[gc] || given[gc].cert) {
            fail("%s: CI key curve does not match a requested set (or given twice)", ci_key[i]);
            pki_cred_clear(&g);
            goto out;
        }
        given[gc] = g;
    }
    if (mkdirs(p.out) != 0) {
        fail("%s: %s", p.out, strerror(errno));
        goto out;
    }
    for (int cv = 0; cv < 2; cv++)
        if (want[cv] && make_set(&p, (pki_curve)cv, given[cv].cert ? &given[cv] : NULL) != 0)
            goto out;
    rc = write_readme(&p, want[PKI_CURVE_NIST], want[PKI_CURVE_BRAINPOOL]);
out:
    pki_cred_clear(&given[0]);
    pki_cred_clear(&given[1]);
    return rc;
}

/* ---- crl ---- */

static int cmd_crl(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"issuer-cert", required_argument, NULL, OPT_ISSUER_CERT},
        {"issuer-key", required_argument, NULL, OPT_ISSUER_KEY},
        {"out", required_argument, NULL, OPT_OUT},
        {"revoke", required_argument, NULL, OPT_REVOKE},
        {"this-update", required_argument, NULL, OPT_THIS_UPDATE},
        {"next-update", required_argument, NULL, OPT_NEXT_UPDATE},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    enum { MAX_REVOKED = 64 };
    const char *icert = NULL, *ikey = NULL, *out = NULL, *revoke[MAX_REVOKED];
    size_t nrev = 0;
    time_t now = time(NULL), tu = now - 3600, nu = now + 7 * 24 * 3600;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_ISSUER_CERT:
            icert = optarg;
            break;
        case OPT_ISSUER_KEY:
            ikey = optarg;
            break;
        case OPT_OUT:
            out = optarg;
            break;
        case OPT_REVOKE:
            if (nrev == MAX_REVOKED)
                return fail("at most %d --revoke", MAX_REVOKED);
            revoke[nrev++] = optarg;
            break;
        case OPT_THIS_UPDATE:
            if (pki_parse_time(optarg, now, &tu) != 0)
                return fail("%s", pki_last_error());
            break;
        case OPT_NEXT_UPDATE:
            if (strcmp(optarg, "none") == 0)
                nu = 0;
            else if (pki_parse_time(optarg, now, &nu) != 0)
                return fail("%s", pki_last_error());
            break;
        case OPT_HELP:
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || !icert || !ikey || !out) {
        usage(stderr);
        return 2;
    }
    pki_cred issuer = {NULL, NULL};
    X509 *certs[MAX_REVOKED];
    size_t n = 0;
    int rc = 2;
    if (load_cred(icert, ikey, &issuer) != 0)
        goto out;
    for (; n < nrev; n++) {
        if (!(certs[n] = pki_load_cert(revoke[n]))) {
            fail("%s", pki_last_error());
            goto out;
        }
    }
    if (pki_write_crl(out, &issuer, certs, n, tu, nu) != 0) {
        fail("%s", pki_last_error());
        goto out;
    }
    rc = 0;
out:
    for (size_t i = 0; i < n; i++)
        X509_free(certs[i]);
    pki_cred_clear(&issuer);
    return rc;
}

/* ---- eid ---- */

static int cmd_eid(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"check", required_argument, NULL, OPT_CHECK},
        {"prefix", required_argument, NULL, OPT_PREFIX},
        {"number", required_argument, NULL, OPT_NUMBER},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *check = NULL, *prefix = NULL;
    unsigned long long number = 1;
    char *end;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_CHECK:
            check = optarg;
            break;
        case OPT_PREFIX:
            prefix = optarg;
            break;
        case OPT_NUMBER:
            errno = 0;
            number = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-')
                return fail("--number must be a non-negative integer");
            break;
        case OPT_HELP:
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || !check == !prefix) {
        usage(stderr);
        return 2;
    }
    if (check) {
        bool ok = pki_eid_valid(check);
        printf("%s %s\n", ok ? "valid" : "invalid", check);
        return ok ? 0 : 1;
    }
    char eid[PKI_EID_LEN + 1];
    if (pki_eid_make(prefix, number, eid) != 0)
        return fail("%s", pki_last_error());
    printf("%s\n", eid);
    return 0;
}

/* ---- dispatch ---- */

static int cmd_verify(int argc, char **argv)
{
#ifdef RSP_PKI_WITH_VERIFY
    return rsp_pki_verify_euicc(argc, argv);
#else
    (void)argc;
    (void)argv;
    return fail("verify-euicc is not in this build (it links //rsp:cert; see tools/rsp-pki/BUILD)");
#endif
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"init", cmd_init}, {"euicc", cmd_euicc},         {"mint", cmd_mint},
        {"eid", cmd_eid},   {"verify-euicc", cmd_verify}, {"crl", cmd_crl},
    };
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (strcmp(argv[1], cmds[i].name) == 0)
            return cmds[i].fn(argc - 1, argv + 1);
    fail("unknown command '%s'", argv[1]);
    usage(stderr);
    return 2;
}
