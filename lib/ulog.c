/*
 * ulog.c - formatted output to the kernel log.  Until the console server
 * exists this is how servers talk to the operator; the kernel replaces
 * control characters so a server cannot drive the terminal.
 */
#include <keel/fmt.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#include <stdarg.h>

void ulog(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1;
    keel_debug_log(buf, len);
}
