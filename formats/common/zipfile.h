/* Zip archives for the pytorch and npz formats: a checked reader (libzip) and
 * a small writer of stored, 64-byte-aligned members. Not installed. */
#ifndef RNNCK_ZIPFILE_H
#define RNNCK_ZIPFILE_H

#include "core/internal.h"

/* ---- reading ---- */
typedef struct rnnck__zip rnnck__zip;

/* Opens `path` read-only with libzip's consistency checks (central directory
 * against local headers). RNNCK_E_IO if it cannot be opened, RNNCK_E_FORMAT if
 * it is not a well-formed zip archive. */
rnnck_status rnnck__zip_open(const char *path, rnnck__zip **out);
void rnnck__zip_close(rnnck__zip *z);
/* Compares each member's local header, or its data descriptor, with the
 * central directory (zip_headers.c): RNNCK_E_FORMAT naming the member and
 * the field that disagrees. rnnck__zip_open runs it. */
rnnck_status rnnck__zip_check_headers(const char *path);
/* The same on an open fd; when data_at is not NULL, data_at[i] (i < n, in
 * central-directory order, libzip's indices) gets where member i's data
 * starts in the file. */
rnnck_status rnnck__zip_check_headers_fd(int fd, const char *path, uint64_t *data_at, uint64_t n);
int64_t rnnck__zip_count(const rnnck__zip *z);
/* Name of member i (borrowed), NULL if out of range or unnamed. */
const char *rnnck__zip_name(rnnck__zip *z, int64_t i);
/* Index of the member called `name`; RNNCK_E_NOTFOUND if absent. */
rnnck_status rnnck__zip_find(rnnck__zip *z, const char *name, int64_t *index);
/* Real size of the archive file in bytes. */
uint64_t rnnck__zip_file_size(const rnnck__zip *z);
/* Declared uncompressed size of member i (after the same sanity checks as
 * rnnck__zip_read, so it can be trusted for sizing). */
rnnck_status rnnck__zip_member_size(rnnck__zip *z, int64_t i, uint64_t *size);
/* Reads member i whole into a new buffer (caller frees; one extra NUL byte is
 * appended, not counted in *len). Refuses members over max_bytes, declared
 * sizes the archive cannot hold (stored data larger than the file, deflate
 * beyond its maximum ratio), data longer or shorter than declared, and CRC-32
 * mismatches. Only stored and deflated members are accepted. */
rnnck_status rnnck__zip_read(rnnck__zip *z, int64_t i, uint64_t max_bytes, unsigned char **data, size_t *len);
/* Reads bytes [offset, offset + len) of member i into dst, in place (seeking
 * within a stored member), with the same checks as rnnck__zip_read: a range
 * that is not the whole member has the member's CRC-32 checked once first, by
 * streaming it through a small buffer. Safe from several threads. */
rnnck_status rnnck__zip_read_range(rnnck__zip *z, int64_t i, uint64_t offset, void *dst, size_t len);
/* Reads the first min(len, size) bytes of member i into dst (*got says how
 * many), for a header: no CRC-32 check, which the later read of the whole
 * member (rnnck__zip_read_range reaching its end) makes. */
rnnck_status rnnck__zip_read_head(rnnck__zip *z, int64_t i, void *dst, size_t len, size_t *got);
/* True if member i is stored uncompressed (so a range of it costs only its
 * own bytes). */
bool rnnck__zip_is_stored(rnnck__zip *z, int64_t i);
/* Where bytes [offset, offset + len) of stored member i lie in the archive
 * file: *fd (the reader's own descriptor of the file libzip reads, valid
 * until rnnck__zip_close; use pread-like calls only) and *file_offset. The
 * member's CRC-32 is checked first (once), so the bytes may be copied
 * without reading them again; except when check_due is not NULL and the
 * range is the whole member, not yet checked: then *check_due is set and
 * the caller computes the CRC-32 as it copies and passes it to
 * rnnck__zip_check. RNNCK_E_UNSUPPORTED when the member is not stored; the
 * checks of rnnck__zip_read_range otherwise. */
rnnck_status rnnck__zip_locate(rnnck__zip *z, int64_t i, uint64_t offset, size_t len, int *fd, uint64_t *file_offset,
                               bool *check_due);
/* Compares crc with stored member i's CRC-32: RNNCK_E_FORMAT naming the
 * archive and member if they differ; the member counts as checked if not. */
rnnck_status rnnck__zip_check_crc(rnnck__zip *z, int64_t i, uint32_t crc);

/* ---- writing ---- */
typedef struct rnnck__zipw rnnck__zipw;

/* Starts an archive on fp (positioned at 0). `label` names the output in
 * messages. */
rnnck_status rnnck__zipw_begin(FILE *fp, const char *label, rnnck__zipw **out);
/* Appends one stored member whose data starts on a 64-byte boundary in the
 * file (the padding sits in a local-header extra field, as torch.save does). */
rnnck_status rnnck__zipw_add(rnnck__zipw *w, const char *name, const void *data, size_t len);
/* The same for a member made of a header and a body (a .npy file) written
 * back to back, with no copy joining them. */
rnnck_status rnnck__zipw_add2(rnnck__zipw *w, const char *name, const void *head, size_t head_len, const void *data,
                             size_t len);
/* Copies a record's body from elsewhere: writes its bytes at out_off of
 * out_fd and sets *crc to their CRC-32. */
typedef rnnck_status (*rnnck__zipw_copier)(void *arg, int out_fd, uint64_t out_off, uint32_t *crc);
/* The same with a body of len bytes that copy() writes file to file, so no
 * buffer holds it; src_off is where it starts in its own file, so that a
 * large body is placed at the same place in a page (the kernel copies
 * fastest between such ranges). The local header is written first with no
 * CRC-32, which is put in once copy() has computed it. RNNCK_E_UNSUPPORTED
 * (nothing written) when the archive goes to a stream, not a regular file:
 * write it with rnnck__zipw_add2 then. */
rnnck_status rnnck__zipw_add_copy(rnnck__zipw *w, const char *name, const void *head, size_t head_len, uint64_t len,
                                  uint64_t src_off, rnnck__zipw_copier copy, void *arg);
/* Writes the central directory and end record. The writer stays to be freed. */
rnnck_status rnnck__zipw_finish(rnnck__zipw *w);
void rnnck__zipw_free(rnnck__zipw *w);

#endif
