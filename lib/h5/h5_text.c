/* The text fields of the isolated reader's report lines (h5_tree.c,
 * h5_remote.c): strings hex-encoded ("-" when empty), integers in decimal,
 * doubles as C99 hex floats (%a), separated by one space. */
#include "h5/h5_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

char *rnnck__h5_hex(const char *s, size_t n) {
    static const char digits[] = "0123456789abcdef";
    char *h = malloc(2 * n + 2);
    if (!h) return NULL;
    for (size_t i = 0; i < n; i++) {
        h[2 * i] = digits[(unsigned char)s[i] >> 4];
        h[2 * i + 1] = digits[(unsigned char)s[i] & 15];
    }
    if (n == 0) h[0] = '-', h[1] = '\0'; /* an empty field stays a field */
    else h[2 * n] = '\0';
    return h;
}

static int unhex_digit(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

bool rnnck__h5_unhex(const char **p, char **out, size_t *len) {
    const char *s = *p;
    size_t n = strcspn(s, " ");
    *p = s + n + (s[n] == ' ');
    if (n == 1 && s[0] == '-') n = 0;
    if (n % 2) return false;
    char *o = malloc(n / 2 + 1);
    if (!o) return false;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = unhex_digit(s[2 * i]), lo = unhex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(o);
            return false;
        }
        o[i] = (char)(hi << 4 | lo);
    }
    o[n / 2] = '\0';
    *out = o;
    if (len) *len = n / 2;
    return true;
}

bool rnnck__h5_next_ll(const char **p, long long *v) {
    char *end;
    errno = 0;
    *v = strtoll(*p, &end, 10);
    if (errno || end == *p || (*end && *end != ' ')) return false;
    *p = end + (*end == ' ');
    return true;
}

bool rnnck__h5_next_double(const char **p, double *v) {
    char *end;
    *v = strtod(*p, &end);
    if (end == *p || (*end && *end != ' ')) return false;
    *p = end + (*end == ' ');
    return true;
}
