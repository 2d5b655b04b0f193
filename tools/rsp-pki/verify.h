/*
 * tools/rsp-pki/verify.h - the `rsp-pki verify-euicc` command.
 *
 * Checks an eUICC chain (CI [-> CI sub-CA] -> EUM [-> EUM sub-CA] -> eUICC) with
 * the product's own rules (rsp/chain.h),
 * so tests can confirm that minted (or defective) certificates are judged as
 * the servers will judge them.  Prints "OK <EID>" and returns 0, or
 * "FAIL <subjectCode>/<reasonCode> <reason>" and returns 1; usage and file
 * errors go to stderr with return value 2.
 */
#ifndef RSP_PKI_VERIFY_H
#define RSP_PKI_VERIFY_H

/* argv[0] is the command name; options follow. */
int rsp_pki_verify_euicc(int argc, char **argv);

#endif
