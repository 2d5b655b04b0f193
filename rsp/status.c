#include "rsp/status.h"

#include <stddef.h>

#define ROW(s, r, m)                                                                                         \
    {                                                                                                        \
        s, r, s "/" r, m                                                                                     \
    }

static const rsp_status_info table[RSP_ST__COUNT] = {
    [RSP_OK] = {NULL, NULL, "OK", "OK"},
    [RSP_ST_BAD_CONTENT_TYPE] = ROW("1.2.1", "2.1", "Unsupported Content-Type"),
    [RSP_ST_BAD_ADMIN_PROTOCOL] = ROW("1.2.2", "2.1", "Unsupported X-Admin-Protocol"),
    [RSP_ST_MANDATORY_MISSING] = ROW("1.1", "2.2", "Mandatory element missing"),
    [RSP_ST_INVALID_FIELD] = ROW("1.1", "2.1", "Invalid element"),
    [RSP_ST_FUNCTION_CALLER_UNKNOWN] = ROW("1.1", "1.2", "Function caller not allowed"),
    [RSP_ST_INTERNAL] = ROW("1.1", "5.1", "Execution error"),
    [RSP_ST_EUICC_SIG_INVALID] = ROW("8.1", "6.1", "eUICC signature invalid"),
    [RSP_ST_EUM_CERT_INVALID] = ROW("8.1.2", "6.1", "EUM certificate invalid"),
    [RSP_ST_EUM_CERT_EXPIRED] = ROW("8.1.2", "6.3", "EUM certificate expired"),
    [RSP_ST_EUICC_CERT_INVALID] = ROW("8.1.3", "6.1", "eUICC certificate invalid"),
    [RSP_ST_EUICC_CERT_EXPIRED] = ROW("8.1.3", "6.3", "eUICC certificate expired"),
    [RSP_ST_CI_PK_UNKNOWN] = ROW("8.11.1", "3.9", "Unknown CI public key"),
    [RSP_ST_TRANSACTION_UNKNOWN] = ROW("8.10.1", "3.9", "TransactionID unknown"),
    [RSP_ST_SMDS_ADDRESS_INVALID] = ROW("8.9.1", "3.8", "Invalid SM-DS address"),
    [RSP_ST_SMDS_PKID_UNSUPPORTED] = ROW("8.9.2", "3.1", "None of the proposed PKIDs is supported"),
    [RSP_ST_SMDS_SVN_UNSUPPORTED] = ROW("8.9.3", "3.1", "eUICC SVN not supported"),
    [RSP_ST_SMDS_NO_CERT_FOR_CI] = ROW("8.9.4", "3.7", "No SM-DS certificate for a CI the eUICC supports"),
    [RSP_ST_EVENT_EXISTS] = ROW("8.9.5", "3.3", "Event record already exists"),
    [RSP_ST_EVENT_UNKNOWN] = ROW("8.9.5", "3.9", "Event record unknown"),
    [RSP_ST_ROOT_SMDS_ERROR] = ROW("8.9", "4.2", "Root SM-DS returned an error"),
    [RSP_ST_SMDS_UNAVAILABLE] = ROW("8.9", "5.1", "SM-DS unavailable"),
    [RSP_ST_EID_INVALID] = ROW("8.1.1", "2.1", "Invalid EID"),
    [RSP_ST_SMDP_ADDRESS_INVALID] = ROW("8.8.1", "3.8", "Invalid SM-DP+ address"),
    [RSP_ST_SMDP_PKID_UNSUPPORTED] = ROW("8.8.2", "3.1", "None of the proposed PKIDs is supported"),
    [RSP_ST_SMDP_SVN_UNSUPPORTED] = ROW("8.8.3", "3.1", "eUICC SVN not supported"),
    [RSP_ST_SMDP_NO_CERT_FOR_CI] = ROW("8.8.4", "3.7", "No SM-DP+ certificate for a CI the eUICC supports"),
    [RSP_ST_EID_MISMATCH] = ROW("8.1.1", "3.8", "EID does not match the expected value"),
    [RSP_ST_MATCHING_ID_REFUSED] = ROW("8.2.6", "3.8", "MatchingID refused"),
    [RSP_ST_PROFILE_NOT_RELEASED] = ROW("8.2", "1.2", "Profile not released"),
    [RSP_ST_ORDER_EXPIRED] = ROW("8.8.5", "4.10", "Download order expired"),
    [RSP_ST_DOWNLOAD_RETRIES] = ROW("8.8.5", "6.4", "Maximum number of retries exceeded"),
    [RSP_ST_NOT_ELIGIBLE] = ROW("8.2.5", "4.3", "Device not eligible"),
    [RSP_ST_CC_MISSING] = ROW("8.2.7", "2.2", "Confirmation code missing"),
    [RSP_ST_CC_REFUSED] = ROW("8.2.7", "3.8", "Confirmation code refused"),
    [RSP_ST_CC_RETRIES] = ROW("8.2.7", "6.4", "Confirmation code retries exceeded"),
    [RSP_ST_BPP_UNAVAILABLE] = ROW("8.2", "3.7", "Bound profile package not available"),
    [RSP_ST_SMDP_OID_INVALID] = ROW("8.8", "3.10", "Invalid SM-DP+ OID"),
    [RSP_ST_EID_REQUIRED] = ROW("8.1.1", "2.2", "EID required"),
    [RSP_ST_EID_OTHER_ASSOCIATED] = ROW("8.1.1", "3.10", "A different EID is already associated"),
    [RSP_ST_ICCID_UNKNOWN] = ROW("8.2.1", "3.9", "ICCID unknown"),
    [RSP_ST_ICCID_IN_USE] = ROW("8.2.1", "3.3", "ICCID already in use"),
    [RSP_ST_ICCID_NOT_ALLOWED] = ROW("8.2.1", "1.2", "Not allowed for this ICCID"),
    [RSP_ST_STATE_TRANSITION] = ROW("8.2.1", "3.5", "Invalid profile state transition"),
    [RSP_ST_PROFILE_TYPE_EXHAUSTED] = ROW("8.2.5", "3.7", "No profile available for this profile type"),
    [RSP_ST_PROFILE_TYPE_UNKNOWN] = ROW("8.2.5", "3.9", "Unknown profile type"),
    [RSP_ST_MATCHING_ID_IN_USE] = ROW("8.2.6", "3.3", "MatchingID already in use"),
    [RSP_ST_MATCHING_ID_OTHER] = ROW("8.2.6", "3.10", "A different MatchingID is associated"),
    [RSP_ST_MATCHING_ID_REQUIRED] = ROW("8.2.6", "2.2", "MatchingID required"),
};

static const rsp_status_info unknown = {NULL, NULL, "?", "Unknown status"};

const rsp_status_info *rsp_status_get(rsp_status st)
{
    if ((unsigned)st >= RSP_ST__COUNT || (st != RSP_OK && table[st].subject == NULL))
        return &unknown;
    return &table[st];
}

const char *rsp_status_str(rsp_status st)
{
    return rsp_status_get(st)->code;
}
