/* Before libhdf5 inflates a dataset's chunks, each stored chunk is checked
 * to inflate to no more than the chunk size its dataset declares.
 *
 * libhdf5 1.10's deflate filter grows its output buffer (doubling) for as
 * long as a compressed stream produces data, then silently drops what lies
 * beyond the chunk: a chunk of a few KB declared as 4 KiB can make it
 * allocate gigabytes, and a file can carry data no reader sees. It refuses
 * to have its predefined filters replaced (H5Zregister, "unable to modify
 * predefined filters"), so rnnck reads each raw chunk (H5Dread_chunk) and
 * runs zlib's inflate over it into a small window, counting bytes and
 * stopping one byte past the declared size. Memory: one stored chunk, at
 * most compressBound(chunk size), plus the window. */
#include "h5/h5_internal.h"

#include <stdlib.h>
#include <zlib.h>

#define WINDOW (64 * 1024)

/* Bytes `stored` inflates to, stopping once past `limit` (*over set). */
static rnnck_status inflated_size(const unsigned char *stored, size_t n, size_t limit, unsigned char *window,
                                  size_t *out, bool *over) {
    z_stream z = {0};
    z.next_in = (unsigned char *)stored;
    z.avail_in = (uInt)n;
    if (inflateInit(&z) != Z_OK) return rnnck__oom();
    size_t total = 0;
    int ret = Z_OK;
    *over = false;
    while (ret == Z_OK) {
        z.next_out = window;
        z.avail_out = WINDOW;
        ret = inflate(&z, Z_NO_FLUSH);
        total += WINDOW - z.avail_out;
        if (total > limit) {
            *over = true;
            break;
        }
        if (ret == Z_BUF_ERROR) break; /* input ended before the stream did */
    }
    inflateEnd(&z);
    *out = total;
    return RNNCK_OK;
}

rnnck_status rnnck__h5_check_chunks(const rnnck__h5_file *f, hid_t ds, const char *object, size_t chunk_bytes) {
    hid_t dcpl = H5Dget_create_plist(ds), space = H5Dget_space(ds);
    rnnck_status st = RNNCK_OK;
    int deflate_index = -1, nfilters = dcpl >= 0 ? H5Pget_nfilters(dcpl) : -1;
    for (int i = 0; i < nfilters; i++) {
        unsigned flags = 0, config = 0;
        size_t nelmts = 0;
        if (H5Pget_filter2(dcpl, (unsigned)i, &flags, &nelmts, NULL, 0, NULL, &config) == H5Z_FILTER_DEFLATE)
            deflate_index = i;
    }
    hsize_t nchunks = 0;
    if (dcpl < 0 || space < 0 || nfilters < 0)
        st = rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "dataset header cannot be read");
    else if (deflate_index >= 0 && H5Dget_num_chunks(ds, space, &nchunks) < 0)
        st = rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "chunk index cannot be read");
    uLong bound = compressBound((uLong)chunk_bytes);
    unsigned char *stored = NULL, *window = NULL;
    if (!st && deflate_index >= 0 && nchunks) {
        stored = malloc(bound);
        window = malloc(WINDOW);
        if (!stored || !window) st = rnnck__oom();
    }
    for (hsize_t c = 0; !st && deflate_index >= 0 && c < nchunks; c++) {
        hsize_t offset[RNNCK_MAX_DIMS + 1] = {0}, size = 0;
        unsigned mask = 0;
        haddr_t addr;
        if (H5Dget_chunk_info(ds, space, c, offset, &mask, &addr, &size) < 0) {
            st = rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "chunk %llu cannot be located", (unsigned long long)c);
            break;
        }
        if (mask & (1u << deflate_index)) continue; /* stored without deflate */
        if (size > bound) {
            st = rnnck__h5_fail(f, RNNCK_E_FORMAT, object,
                                "chunk %llu stores %llu bytes, more than deflate makes of the declared chunk size "
                                "of %zu bytes", (unsigned long long)c, (unsigned long long)size, chunk_bytes);
            break;
        }
        uint32_t read_mask = 0;
        size_t inflated = 0;
        bool over = false;
        if (H5Dread_chunk(ds, H5P_DEFAULT, offset, &read_mask, stored) < 0) {
            st = rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "chunk %llu cannot be read (corrupt or truncated)",
                                (unsigned long long)c);
            break;
        }
        st = inflated_size(stored, (size_t)size, chunk_bytes, window, &inflated, &over);
        if (!st && over)
            st = rnnck__h5_fail(f, RNNCK_E_FORMAT, object,
                                "compressed chunk %llu inflates beyond the declared chunk size of %zu bytes",
                                (unsigned long long)c, chunk_bytes);
    }
    free(stored);
    free(window);
    if (space >= 0) H5Sclose(space);
    if (dcpl >= 0) H5Pclose(dcpl);
    return st;
}
