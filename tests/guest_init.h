/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Start-up shared by the static /init programs of the guests: the pseudo
 * filesystems they read, and stdout/stderr on the console, line-buffered
 * so that the harness sees whole lines; and check(), the one line per
 * check that guest.sh and users.sh record.
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

/* Print "KTEST: PASS <name> (<seen>)" or "KTEST: FAIL <name>: <seen>". */
static inline bool check(bool ok, const char *name, const char *fmt, ...)
{
	char seen[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(seen, sizeof(seen), fmt, ap);
	va_end(ap);
	if (ok)
		printf("KTEST: PASS %s (%s)\n", name, seen);
	else
		printf("KTEST: FAIL %s: %s\n", name, seen);
	return ok;
}

#endif
