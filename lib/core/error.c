/* Per-thread error messages and small string helpers. */
#include "core/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERRBUF_SIZE 1024

static _Thread_local char errbuf[ERRBUF_SIZE];

const char *rnnck_errmsg(void) { return errbuf; }

void rnnck__err_clear(void) { errbuf[0] = '\0'; }

/* Messages quote names and values taken from files; a file must not be able
 * to break the one-line promise (or inject terminal control sequences), so
 * every control character becomes '?'. Done here, once, for every message. */
static void one_line(char *s) {
    for (unsigned char *p = (unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f) *p = '?';
}

rnnck_status rnnck__err(rnnck_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    one_line(errbuf);
    return status;
}

void rnnck__err_prefix(const char *fmt, ...) {
    char prefix[ERRBUF_SIZE];
    char old[ERRBUF_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, errbuf, sizeof old);
    /* Truncation is acceptable: the message stays one readable line. */
    size_t n = strlen(prefix);
    if (n > ERRBUF_SIZE - 3) n = ERRBUF_SIZE - 3;
    memcpy(errbuf, prefix, n);
    errbuf[n] = ':';
    errbuf[n + 1] = ' ';
    size_t rest = ERRBUF_SIZE - n - 3;
    size_t olen = strnlen(old, rest);
    memcpy(errbuf + n + 2, old, olen);
    errbuf[n + 2 + olen] = '\0';
    one_line(errbuf);
}

rnnck_status rnnck__oom(void) {
    /* Static text: reporting out-of-memory must not allocate. */
    snprintf(errbuf, sizeof errbuf, "out of memory");
    return RNNCK_E_NOMEM;
}

const char *rnnck_strerror(rnnck_status status) {
    switch (status) {
    case RNNCK_OK: return "success";
    case RNNCK_E_USAGE: return "invalid argument";
    case RNNCK_E_FORMAT: return "malformed or unrecognised input";
    case RNNCK_E_UNSUPPORTED: return "unsupported feature";
    case RNNCK_E_INEXACT: return "conversion would not be exact";
    case RNNCK_E_IO: return "read error";
    case RNNCK_E_WRITE: return "output could not be written";
    case RNNCK_E_NOMEM: return "out of memory or over a size limit";
    case RNNCK_E_NOTFOUND: return "not found";
    case RNNCK_E_SHAPE: return "wrong array shape or dtype";
    }
    return "unknown status";
}

const char *rnnck_version(void) { return RNNCK_VERSION_STRING; }
int rnnck_version_number(void) { return RNNCK_VERSION_NUMBER; }

rnnck_status rnnck_check_abi(int header_version, size_t sizeof_module_info, size_t sizeof_open_opts,
                             size_t sizeof_forward_opts, size_t sizeof_limits) {
    rnnck__err_clear();
    if (header_version / 10000 != RNNCK_VERSION_NUMBER / 10000 || header_version > RNNCK_VERSION_NUMBER)
        return rnnck__err(RNNCK_E_UNSUPPORTED, "program built against rnnck.h %d, library is %d", header_version,
                          RNNCK_VERSION_NUMBER);
    if (sizeof_module_info != sizeof(rnnck_module_info) || sizeof_open_opts != sizeof(rnnck_open_opts) ||
        sizeof_forward_opts != sizeof(rnnck_forward_opts) || sizeof_limits != sizeof(rnnck_limits))
        return rnnck__err(RNNCK_E_UNSUPPORTED,
                          "struct sizes differ between the program's rnnck.h and the library "
                          "(module_info %zu/%zu, open_opts %zu/%zu, forward_opts %zu/%zu, limits %zu/%zu)",
                          sizeof_module_info, sizeof(rnnck_module_info), sizeof_open_opts, sizeof(rnnck_open_opts),
                          sizeof_forward_opts, sizeof(rnnck_forward_opts), sizeof_limits, sizeof(rnnck_limits));
    return RNNCK_OK;
}

char *rnnck__strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

char *rnnck__asprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *p = malloc((size_t)n + 1);
    if (!p) return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

bool rnnck__shape_numel(int ndim, const int64_t *shape, int64_t *out) {
    /* Every partial product must fit, whatever the order of the dimensions:
     * {0, INT64_MAX, 2} is as impossible a shape as {INT64_MAX, 2, 0}. */
    int64_t n = 1, nonzero = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return false;
        if (shape[i] && rnnck__mul_overflow_i64(nonzero, shape[i], &nonzero)) return false;
        n *= shape[i] ? 1 : 0;
    }
    *out = n ? nonzero : 0;
    return true;
}

const char *rnnck__shape_str(int ndim, const int64_t *shape, char *buf, size_t bufsize) {
    size_t used = 0;
    if (bufsize == 0) return buf;
    buf[0] = '\0';
    used += (size_t)snprintf(buf + used, bufsize - used, "(");
    for (int i = 0; i < ndim && used < bufsize; i++) {
        used += (size_t)snprintf(buf + used, bufsize - used, "%s%lld", i ? ", " : "",
                                 (long long)shape[i]);
    }
    if (used < bufsize) snprintf(buf + used, bufsize - used, ndim == 1 ? ",)" : ")");
    return buf;
}
