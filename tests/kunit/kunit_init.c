// SPDX-License-Identifier: GPL-2.0-only
/*
 * kunit_init.c - /init of the x86_64 guest that runs the kref_async KUnit
 * suite (harness/kunit.sh x86_64): load /test_kref_async.ko, whose suite
 * runs while the module goes live and prints its KTAP report on the
 * console, then power off.  The harness parses the console with
 * "kunit.py parse".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../guest_init.h"

int main(void)
{
	int fd, rc;

	guest_init_console();
	fd = open("/test_kref_async.ko", O_RDONLY | O_CLOEXEC);
	rc = fd < 0 ? -1 : (int)syscall(SYS_finit_module, fd, "", 0);
	/*
	 * The suite's report goes out through printk, which may lag behind
	 * our writes to the console: let it drain rather than interleave.
	 */
	sleep(2);
	printf("KUNIT-INIT: load %s\n", rc ? strerror(errno) : "ok");
	printf("KUNIT-INIT: DONE\n");
	fflush(stdout);
	sync();
	reboot(RB_POWER_OFF);
	return 0;
}
