/*
 * keel/ulog.h - printf to the kernel log (SYS_DEBUG_LOG), one call per
 * line of at most 255 bytes (longer output is cut, never split).
 */
#ifndef KEEL_LIB_ULOG_H
#define KEEL_LIB_ULOG_H

void ulog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
