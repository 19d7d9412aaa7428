/* lib/core/file_copy.c: CRC-32 of memory and of file ranges (ISA-L,
 * mapped windows), checked against zlib's crc32 as the reference, and
 * ranges copied file to file. */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <isa-l/crc.h>
#include <zlib.h>

#include "core/internal.h"
#include "helpers/testutil.h"

/* n pseudo-random bytes (xorshift), the same for a seed. */
static unsigned char *random_bytes(size_t n, uint64_t seed) {
    unsigned char *b = malloc(n);
    cr_assert_not_null(b);
    uint64_t x = seed | 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        b[i] = (unsigned char)(x >> 24);
    }
    return b;
}

static uint32_t zlib_crc(uint32_t crc, const void *p, size_t n) { return (uint32_t)crc32_z(crc, p, n); }

Test(file_copy, crc32_is_zips_crc_and_extends_in_pieces) {
    cr_assert_eq(rnnck__crc32(0, "123456789", 9), 0xcbf43926u); /* the CRC catalogue's check value */
    cr_assert_eq(rnnck__crc32(0, "", 0), 0u);
    /* an empty piece, even NULL, changes nothing */
    cr_assert_eq(rnnck__crc32(0xcbf43926u, NULL, 0), 0xcbf43926u);
    cr_assert_eq(rnnck__crc32(rnnck__crc32(0, "123456789", 9), NULL, 0), zlib_crc(0, "123456789", 9));
    size_t n = 100003;
    unsigned char *b = random_bytes(n, 7);
    uint32_t whole = rnnck__crc32(0, b, n);
    cr_assert_eq(whole, zlib_crc(0, b, n));
    for (size_t cut = 0; cut < n; cut += 9973) cr_assert_eq(rnnck__crc32(rnnck__crc32(0, b, cut), b + cut, n - cut), whole);
    free(b);
}

/* ISA-L picks its CRC code for the CPU at run time; its generic code is what
 * a CPU without carry-less multiplication runs. Both must give zlib's CRC-32
 * for every length and alignment around the vector widths (16, 32, 64
 * bytes) and beyond. */
Test(file_copy, crc32_is_the_same_on_the_generic_path_as_on_this_cpus) {
    size_t n = 70000;
    unsigned char *b = random_bytes(n, 21);
    const size_t lens[] = {0, 1, 15, 16, 17, 31, 63, 64, 65, 127, 128, 255, 256, 257, 1023, 4096, 65537};
    for (size_t off = 0; off < 64; off += 7)
        for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
            uint32_t want = zlib_crc(0x1234u, b + off, lens[i]);
            cr_assert_eq(rnnck__crc32(0x1234u, b + off, lens[i]), want, "offset %zu, %zu bytes", off, lens[i]);
            cr_assert_eq(crc32_gzip_refl_base(0x1234u, b + off, lens[i]), want, "generic: offset %zu, %zu bytes", off,
                         lens[i]);
        }
    free(b);
}

/* Ranges of a 20 MiB file: unaligned starts and lengths, ranges inside one
 * page, and ranges crossing several 8 MiB windows, continuing a CRC. */
Test(file_copy, crc32_of_a_file_range_equals_zlibs_over_the_same_bytes) {
    char *dir = tmpdir_new(), *path = path_join(dir, "data");
    size_t n = ((size_t)20 << 20) + 4321;
    unsigned char *b = random_bytes(n, 11);
    cr_assert_eq(write_file(path, b, n), 0);
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0);
    const struct {
        size_t off, len;
    } cases[] = {{0, 0}, {0, 1}, {4095, 2}, {1, 100}, {0, n}, {4097, n - 4097}, {12345, (size_t)17 << 20},
                 {((size_t)8 << 20) - 1, ((size_t)8 << 20) + 2}, {n - 1, 1}, {n, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint32_t crc = 0x5a5a5a5au, want = zlib_crc(0x5a5a5a5au, b + cases[i].off, cases[i].len);
        cr_assert_eq(rnnck__crc32_range(fd, cases[i].off, cases[i].len, &crc, path), RNNCK_OK, "%s", rnnck_errmsg());
        cr_assert_eq(crc, want, "range %zu + %zu", cases[i].off, cases[i].len);
    }
    close(fd);
    free(b);
    free(path);
    tmpdir_remove(dir);
}

/* A range past the end of the file (a file that shrank after its size was
 * read) is an error naming the file, not a fault on the mapping. */
Test(file_copy, crc32_of_a_range_past_the_end_is_refused) {
    char *dir = tmpdir_new(), *path = path_join(dir, "short");
    unsigned char *b = random_bytes(10000, 3);
    cr_assert_eq(write_file(path, b, 10000), 0);
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0);
    uint32_t crc = 0;
    cr_assert_eq(rnnck__crc32_range(fd, 5000, 5001, &crc, "short.pt"), RNNCK_E_FORMAT);
    cr_assert_not_null(strstr(rnnck_errmsg(), "short.pt"), "%s", rnnck_errmsg());
    cr_assert_eq(rnnck__crc32_range(fd, 20000, 1, &crc, "short.pt"), RNNCK_E_FORMAT);
    cr_assert_eq(rnnck__crc32_range(fd, 5000, 5000, &crc, "short.pt"), RNNCK_OK);
    cr_assert_eq(crc, zlib_crc(0, b + 5000, 5000));
    close(fd);
    free(b);
    free(path);
    tmpdir_remove(dir);
}

/* copy_range puts the bytes at the output offset, leaving the rest alone. */
Test(file_copy, copies_a_range_to_an_offset_of_another_file) {
    char *dir = tmpdir_new(), *in = path_join(dir, "in"), *out = path_join(dir, "out");
    size_t n = (size_t)3 << 20;
    unsigned char *b = random_bytes(n, 5);
    cr_assert_eq(write_file(in, b, n), 0);
    cr_assert_eq(write_file(out, "head", 4), 0);
    int ifd = open(in, O_RDONLY), ofd = open(out, O_WRONLY);
    cr_assert(ifd >= 0 && ofd >= 0);
    cr_assert_eq(rnnck__copy_range(ifd, 777, ofd, 4, n - 1000, NULL, out), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck__copy_range(ifd, n - 10, ofd, 4 + n, 20, NULL, out), RNNCK_E_FORMAT, "a range past the end");
    close(ifd);
    close(ofd);
    size_t got = 0;
    unsigned char *c = read_file(out, &got);
    cr_assert_geq(got, 4 + n - 1000);
    cr_assert_eq(memcmp(c + 4, b + 777, n - 1000), 0);
    free(c);
    free(b);
    free(in);
    free(out);
    tmpdir_remove(dir);
}

/* A copy is one mapped pass that also checksums when asked: every case,
 * with both ends at the same or at different places in a page, copies the
 * input's bytes and gives zlib's CRC-32 of them, across 8 MiB windows and
 * the 1 MiB pieces inside them. */
Test(file_copy, copy_with_crc_writes_the_bytes_and_gives_zlibs_crc) {
    char *dir = tmpdir_new(), *in = path_join(dir, "in"), *out = path_join(dir, "out");
    size_t n = ((size_t)19 << 20) + 333;
    unsigned char *b = random_bytes(n, 9);
    cr_assert_eq(write_file(in, b, n), 0);
    const struct {
        size_t in_off, out_off, len;
        bool crc;
    } cases[] = {{0, 0, n, true},           {64, 4096, n - 64, true},   {64, 0, n - 64, false},
                 {4096, 0, n - 4096, false}, {1, 3, ((size_t)8 << 20) + 7, true}, {n - 5, 10, 5, true},
                 {100, 0, 0, true}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int ifd = open(in, O_RDONLY), ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        cr_assert(ifd >= 0 && ofd >= 0);
        uint32_t crc = 0;
        cr_assert_eq(rnnck__copy_range(ifd, cases[i].in_off, ofd, cases[i].out_off, cases[i].len,
                                       cases[i].crc ? &crc : NULL, out),
                     RNNCK_OK, "case %zu: %s", i, rnnck_errmsg());
        close(ifd);
        close(ofd);
        if (cases[i].crc) cr_assert_eq(crc, zlib_crc(0, b + cases[i].in_off, cases[i].len), "case %zu", i);
        size_t got = 0;
        unsigned char *c = read_file(out, &got);
        cr_assert_eq(got, cases[i].len ? cases[i].out_off + cases[i].len : 0, "case %zu", i);
        cr_assert(cases[i].len == 0 || memcmp(c + cases[i].out_off, b + cases[i].in_off, cases[i].len) == 0,
                  "case %zu: bytes differ", i);
        free(c);
    }
    free(b);
    free(in);
    free(out);
    tmpdir_remove(dir);
}

/* A source that is not a regular file (a character device) is read, not
 * mapped, through the bounded buffer, with the same bytes and CRC-32; a
 * range past the end of a regular file is refused before anything is
 * mapped. */
Test(file_copy, copy_with_crc_from_a_device_and_past_the_end) {
    char *dir = tmpdir_new(), *in = path_join(dir, "in"), *out = path_join(dir, "out");
    size_t n = ((size_t)2 << 20) + 50000;
    unsigned char *b = calloc(n, 1);
    cr_assert_not_null(b);
    int zfd = open("/dev/zero", O_RDONLY), ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert(zfd >= 0 && ofd >= 0);
    memset(b, 0xff, 64);
    cr_assert_eq(write(ofd, b, 64), 64);
    memset(b, 0, 64);
    uint32_t crc = 0;
    cr_assert_eq(rnnck__copy_range(zfd, 123, ofd, 7, n, &crc, out), RNNCK_OK, "%s", rnnck_errmsg());
    close(zfd);
    cr_assert_eq(crc, zlib_crc(0, b, n));
    size_t got = 0;
    unsigned char *c = read_file(out, &got);
    cr_assert(got == 7 + n && memcmp(c + 7, b, n) == 0 && c[6] == 0xff);
    free(c);
    unsigned char *r = random_bytes(10000, 4);
    cr_assert_eq(write_file(in, r, 10000), 0);
    int ifd = open(in, O_RDONLY);
    cr_assert_geq(ifd, 0);
    cr_assert_eq(rnnck__copy_range(ifd, 100, ofd, 0, 10000, &crc, "short.pt"), RNNCK_E_FORMAT);
    cr_assert_not_null(strstr(rnnck_errmsg(), "short.pt"), "%s", rnnck_errmsg());
    close(ifd);
    close(ofd);
    free(r);
    free(b);
    free(in);
    free(out);
    tmpdir_remove(dir);
}
