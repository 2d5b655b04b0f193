#include "smdp_default/qrpng.h"

#include <errno.h>
#include <png.h>
#include <qrencode.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUIET_ZONE 4 /* modules of white around the symbol (ISO/IEC 18004) */

static void seterr(char *err, size_t errlen, const char *msg, const char *arg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s%s%s", msg, arg ? ": " : "", arg ? arg : "");
}

/* Writes the modules of qr as rows of 1-bit pixels (0 = black). */
static int write_png(FILE *f, const QRcode *qr, unsigned scale, char *err, size_t errlen)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    unsigned side = ((unsigned)qr->width + 2 * QUIET_ZONE) * scale;
    size_t row_bytes = (side + 7) / 8;
    uint8_t *row = malloc(row_bytes);
    if (!png || !info || !row) {
        png_destroy_write_struct(&png, &info);
        free(row);
        seterr(err, errlen, "out of memory", NULL);
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(row);
        seterr(err, errlen, "cannot write the PNG", NULL);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, side, side, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (unsigned y = 0; y < side; y++) {
        memset(row, 0xFF, row_bytes);
        int my = (int)(y / scale) - QUIET_ZONE;
        for (unsigned x = 0; x < side; x++) {
            int mx = (int)(x / scale) - QUIET_ZONE;
            bool dark = my >= 0 && my < qr->width && mx >= 0 && mx < qr->width &&
                        (qr->data[(size_t)my * (size_t)qr->width + (size_t)mx] & 1);
            if (dark)
                row[x / 8] &= (uint8_t) ~(0x80u >> (x % 8));
        }
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(row);
    return 0;
}

int smdp_qr_write_png(const char *text, const char *path, unsigned scale, char *err, size_t errlen)
{
    if (!text || !*text || !path || !*path || scale == 0 || scale > 64) {
        seterr(err, errlen, "bad arguments", NULL);
        return -1;
    }
    QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (!qr) {
        seterr(err, errlen, "cannot encode the QR code", strerror(errno));
        return -1;
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        seterr(err, errlen, path, strerror(errno));
        QRcode_free(qr);
        return -1;
    }
    int rc = write_png(f, qr, scale, err, errlen);
    QRcode_free(qr);
    if (fclose(f) != 0 && rc == 0) {
        seterr(err, errlen, path, strerror(errno));
        rc = -1;
    }
    if (rc != 0)
        remove(path);
    return rc;
}
