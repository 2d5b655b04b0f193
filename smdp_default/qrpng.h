/*
 * smdp_default/qrpng.h - QR code images of Activation Codes (actcode.h) for
 * operators to print or send, with libqrencode and libpng.
 *
 * Errors: -1 with a reason in err (a partly written file is removed).  Thread
 * safe.
 */
#ifndef SMDP_QRPNG_H
#define SMDP_QRPNG_H

#include <stddef.h>

/* Encodes text as a QR code (libqrencode, error correction level M, 8-bit /
 * alphanumeric segments as the library chooses) and writes it to path as a
 * 1-bit greyscale PNG: `scale` pixels per module (1..64), a quiet zone of
 * four modules.  0, or -1 with a reason in err. */
int smdp_qr_write_png(const char *text, const char *path, unsigned scale, char *err, size_t errlen);

#endif
