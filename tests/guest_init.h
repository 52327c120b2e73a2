/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Start-up shared by the static /init programs of the guests: the pseudo
 * filesystems they read, and stdout/stderr on the console, line-buffered
 * so that the harness sees whole lines; and check(), the one line per
 * check that the harness records (tagged "KTEST", or GUEST_CHECK_TAG if
 * defined first, as the e2e /init does).
 */
#ifndef KREF_ASYNC_GUEST_INIT_H
#define KREF_ASYNC_GUEST_INIT_H

#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/mount.h>
#include <unistd.h>

static inline void guest_init_console(void)
{
	int fd;

	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	fd = open("/dev/console", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
}

/* The tag of check()'s lines, which the harness reading them looks for. */
#ifndef GUEST_CHECK_TAG
#define GUEST_CHECK_TAG "KTEST"
#endif

/* The checks printed so far, for a closing line that counts them. */
static unsigned int guest_checks;

/* Print "<tag>: PASS <name> (<seen>)" or "<tag>: FAIL <name>: <seen>". */
static inline bool __attribute__((format(printf, 3, 4)))
check(bool ok, const char *name, const char *fmt, ...)
{
	char seen[1024];
	va_list ap;

	guest_checks++;
	va_start(ap, fmt);
	vsnprintf(seen, sizeof(seen), fmt, ap);
	va_end(ap);
	if (ok)
		printf(GUEST_CHECK_TAG ": PASS %s (%s)\n", name, seen);
	else
		printf(GUEST_CHECK_TAG ": FAIL %s: %s\n", name, seen);
	return ok;
}

#endif
