// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio_kvm_e2e.c - /init of the guest that runs the vfio + KVM scenario
 * for real (harness/e2e.sh), on the patched and on the unpatched kernel.
 *
 * It drives vfio as QEMU does, on both of vfio's paths: a VM, its
 * kvm-vfio device and an mtty mdev, then either
 *
 *   the group path: the mdev's group in a type1 container, the group
 *	added to the kvm-vfio device, the device fd from the group; or
 *   the cdev path: /dev/vfio/devices/vfioN opened, added to the kvm-vfio
 *	device, bound to an iommufd (VFIO_DEVICE_BIND_IOMMUFD) and attached
 *	to an IOAS.
 *
 * vfio takes a reference on the VM when it opens the device (the group's
 * VFIO_GROUP_GET_DEVICE_FD, the cdev's bind).  When the VMM closes the VM
 * fd and the kvm-vfio fd first, vfio holds the last reference and drops
 * it from the device's close path, under dev_set->lock, and on the group
 * path group->group_lock too.  On an unpatched kernel the whole of
 * kvm_destroy_vm() then runs under those locks; with kvm_put_kvm_async()
 * it runs after they are dropped, but still before close() returns.  The
 * VMM closes /dev/kvm as soon as the VM exists, so that only the VM's own
 * fds and references pin the KVM modules.
 *
 * Checks, one line each:
 *
 *	E2E: PASS <name> [(<what was seen>)]
 *	E2E: FAIL <name>: <what was seen>
 *
 * then, from /proc/lockdep, every chain of at most MAX_DEPTH dependencies
 * from one of vfio's locks to a KVM lock:
 *
 *	E2E: DEP <vfio lock> -> <kvm lock> [(via <a> -> <b>)]
 *	E2E: DEPS <count>
 *
 * The group path's device-first order (the VM fd closed last, so vfio's
 * put is not the last one) runs first, and the same chains are printed
 * once after it alone, as "E2E: DEP-VMLAST" and "E2E: DEPS-VMLAST" lines:
 * lockdep records vfio -> KVM there only if every kvm_put_kvm() tells it
 * that the VM may be destroyed (CONFIG_PROVE_RELEASE_MAPS).  The cdev
 * path's scenarios come next, and "E2E: DEP-CDEV" and "E2E: DEPS-CDEV"
 * lines show what they added, before the group path's put is ever the
 * last one.
 *
 * (informational: whether a dependency must be there is the harness's
 * call, it differs between the kernels), every direct dependency of
 * vfio's locks as "E2E: INFO vfio-dep <from> -> <to>", and
 * "E2E: DONE <n> checks".
 * Then the guest powers off.  Lock class names contain "->" but never
 * " -> ", which therefore separates them.  In 6.12 and 7.3 vfio's classes are
 * "&new_dev_set->lock" (mutex_init() in vfio_assign_device_set()) and
 * "&group->group_lock".
 *
 * KVM is built as modules (kvm.ko, kvm-amd.ko), loaded from the
 * initramfs in the order /modules.list gives.  The last scenario keeps
 * only a vfio device fd open, so that vfio's reference alone keeps the
 * VM, and tries to unload the vendor module:
 *
 *	E2E: MODULE kvm_amd-with-vm refused|unloaded vm-alive|vm-gone (<errno>)
 *
 * The series' first patch makes the VM pin kvm_amd, so it must be
 * refused, and both modules must unload once the VM is gone.  The
 * unpatched kernel lets it go; then, after "E2E: DONE", the device fd is
 * closed, and the console shows what kvm_destroy_vm() does without the
 * module it calls into.
 *
 * With e2e_module_stages=1 on the command line, every scenario of both
 * paths runs once more, after the lockdep report, trying to unload
 * kvm_amd and kvm after each step (see stage()); one check each,
 * "modules.<scenario>".
 *
 * e2e_dump_lockdep=1 on the kernel command line also copies /proc/lockdep
 * to the console ("LOCKDEP: " lines); "vfio_kvm_e2e --lockdep FILE" runs
 * only the analysis, on a saved copy, on any machine (built against 6.6+
 * uapi headers, as e2e.sh builds it).
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GUEST_CHECK_TAG "E2E"
#include "../guest_init.h"

#include <linux/iommufd.h>
#include <linux/kvm.h>
#include <linux/vfio.h>

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

#define MDEV_PARENT	"/sys/class/mdev_bus/mtty/mdev_supported_types"
#define MDEV_DEVICES	"/sys/bus/mdev/devices"
#define KVM_DEBUGFS	"/sys/kernel/debug/kvm"
#define MAX_DEPTH	3

static bool exists(const char *path)
{
	struct stat st;

	return !stat(path, &st);
}

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int err;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	err = n < 0 ? -errno : 0;
	close(fd);
	return err;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool setup_guest(void)
{
	static const struct {
		const char *src, *dir, *type;
	} mounts[] = {
		{ "proc", "/proc", "proc" },
		{ "sysfs", "/sys", "sysfs" },
		{ "devtmpfs", "/dev", "devtmpfs" },
		{ "debugfs", "/sys/kernel/debug", "debugfs" },
	};
	char failed[256] = "";
	size_t i;
	int fd;

	for (i = 0; i < ARRAY_SIZE(mounts); i++) {
		mkdir(mounts[i].dir, 0755);
		if (mount(mounts[i].src, mounts[i].dir, mounts[i].type, 0, NULL) &&
		    errno != EBUSY && !*failed)
			snprintf(failed, sizeof(failed), "mount %s: %s",
				 mounts[i].dir, strerror(errno));
	}
	/* Without /dev/console in the initramfs, stdout goes nowhere. */
	if (fcntl(1, F_GETFD) < 0) {
		fd = open("/dev/console", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			if (fd > 2)
				close(fd);
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	return check(!*failed, "setup.mounts", "%s",
		     *failed ? failed : "proc, sysfs, devtmpfs, debugfs");
}

/* The mtty type to instantiate: mtty-1 if present, else the first one. */
static char mdev_type[256];

static bool setup_mdev_type(void)
{
	char types[512] = "";
	struct dirent *de;
	DIR *d = opendir(MDEV_PARENT);

	if (!d)
		return check(false, "setup.mdev-type", "%s: %s", MDEV_PARENT,
			     strerror(errno));
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(types + strlen(types), sizeof(types) - strlen(types),
			 "%s%s", *types ? " " : "", de->d_name);
		if (!*mdev_type || !strcmp(de->d_name, "mtty-1"))
			snprintf(mdev_type, sizeof(mdev_type), "%s", de->d_name);
	}
	closedir(d);
	return check(*mdev_type, "setup.mdev-type", "types: %s; using %s",
		     *types ? types : "none", *mdev_type ? mdev_type : "none");
}

/*
 * How the VMM gets its device fd: through the group and a type1
 * container, or from the device's cdev bound to an iommufd.
 */
enum vfio_path { GROUP_PATH, CDEV_PATH };

/*
 * One VMM's worth of fds, set up as QEMU does it, except that /dev/kvm is
 * closed once the VM exists: its fd pins kvm_amd too, and would hide
 * which of the VM's own references keep the modules.  @err says what
 * failed if setup() returns false.
 */
struct vmm {
	enum vfio_path path;
	char uuid[40];
	char debugfs[128];
	int vm, kvm_vfio, container, group, iommufd, device;
	char err[512];
};

static void vmm_init(struct vmm *v, int n, enum vfio_path path)
{
	memset(v, 0, sizeof(*v));
	v->path = path;
	snprintf(v->uuid, sizeof(v->uuid),
		 "8e2e0000-f0c5-4b1d-9a3e-%012d", n);
	v->vm = -1;
	v->kvm_vfio = -1;
	v->container = -1;
	v->group = -1;
	v->iommufd = -1;
	v->device = -1;
}

static bool fail(struct vmm *v, const char *what)
{
	snprintf(v->err, sizeof(v->err), "%.400s: %s", what, strerror(errno));
	return false;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void vmm_close_all(struct vmm *v)
{
	close_fd(&v->device);
	close_fd(&v->kvm_vfio);
	close_fd(&v->vm);
	close_fd(&v->group);
	close_fd(&v->container);
	close_fd(&v->iommufd);
}

/* Take the cdev's file back from the kvm-vfio device. */
static bool vmm_file_del(struct vmm *v)
{
	struct kvm_device_attr attr = {
		.group = KVM_DEV_VFIO_FILE,
		.attr = KVM_DEV_VFIO_FILE_DEL,
		.addr = (uint64_t)(uintptr_t)&v->device,
	};

	if (ioctl(v->kvm_vfio, KVM_SET_DEVICE_ATTR, &attr))
		return fail(v, "KVM_SET_DEVICE_ATTR(KVM_DEV_VFIO_FILE_DEL, device)");
	return true;
}

/* devtmpfs nodes appear asynchronously: wait up to 5 s for @path. */
static void wait_for(const char *path)
{
	int i;

	for (i = 0; i < 50 && !exists(path); i++)
		usleep(100000);
}

/* The group path: the mdev's group, in a type1 container, added to KVM. */
static bool vmm_open_group(struct vmm *v, struct kvm_device_attr *attr)
{
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	char path[512], link[512], *grp;
	ssize_t n;

	snprintf(path, sizeof(path), MDEV_DEVICES "/%s/iommu_group", v->uuid);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return fail(v, path);
	link[n] = '\0';
	grp = strrchr(link, '/');
	grp = grp ? grp + 1 : link;

	v->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (v->container < 0)
		return fail(v, "open /dev/vfio/vfio");
	if (ioctl(v->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION)
		return fail(v, "VFIO_GET_API_VERSION");
	snprintf(path, sizeof(path), "/dev/vfio/%.64s", grp);
	wait_for(path);
	v->group = open(path, O_RDWR | O_CLOEXEC);
	if (v->group < 0)
		return fail(v, path);
	if (ioctl(v->group, VFIO_GROUP_GET_STATUS, &gs))
		return fail(v, "VFIO_GROUP_GET_STATUS");
	if (!(gs.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		errno = EBUSY;
		return fail(v, "group not viable");
	}
	if (ioctl(v->group, VFIO_GROUP_SET_CONTAINER, &v->container))
		return fail(v, "VFIO_GROUP_SET_CONTAINER");
	if (ioctl(v->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) &&
	    ioctl(v->container, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU))
		return fail(v, "VFIO_SET_IOMMU(TYPE1v2, TYPE1)");

	attr->addr = (uint64_t)(uintptr_t)&v->group;
	if (ioctl(v->kvm_vfio, KVM_SET_DEVICE_ATTR, attr))
		return fail(v, "KVM_SET_DEVICE_ATTR(KVM_DEV_VFIO_FILE_ADD, group)");

	/* vfio takes its reference on the VM here */
	v->device = ioctl(v->group, VFIO_GROUP_GET_DEVICE_FD, v->uuid);
	if (v->device < 0)
		return fail(v, "VFIO_GROUP_GET_DEVICE_FD");
	return true;
}

/*
 * The cdev path, in QEMU's order: the device fd is added to KVM before
 * it is bound to an iommufd, so that the bind finds the VM.  mtty has
 * iommufd's emulated ops, so the attach needs no IOMMU.
 */
static bool vmm_open_cdev(struct vmm *v, struct kvm_device_attr *attr)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt pt = { .argsz = sizeof(pt) };
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	char path[512], node[64] = "";
	struct dirent *de;
	DIR *d;

	/* the mdev's vfio-dev/vfioN class device names its cdev */
	snprintf(path, sizeof(path), MDEV_DEVICES "/%s/vfio-dev", v->uuid);
	d = opendir(path);
	if (!d)
		return fail(v, path);
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "vfio", 4))
			snprintf(node, sizeof(node), "%.32s", de->d_name);
	closedir(d);
	if (!*node) {
		errno = ENOENT;
		return fail(v, path);
	}
	snprintf(path, sizeof(path), "/dev/vfio/devices/%s", node);
	wait_for(path);
	v->device = open(path, O_RDWR | O_CLOEXEC);
	if (v->device < 0)
		return fail(v, path);
	v->iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (v->iommufd < 0)
		return fail(v, "open /dev/iommu");

	attr->addr = (uint64_t)(uintptr_t)&v->device;
	if (ioctl(v->kvm_vfio, KVM_SET_DEVICE_ATTR, attr))
		return fail(v, "KVM_SET_DEVICE_ATTR(KVM_DEV_VFIO_FILE_ADD, device)");

	/* vfio takes its reference on the VM here */
	bind.iommufd = v->iommufd;
	if (ioctl(v->device, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		return fail(v, "VFIO_DEVICE_BIND_IOMMUFD");
	if (ioctl(v->iommufd, IOMMU_IOAS_ALLOC, &ioas))
		return fail(v, "IOMMU_IOAS_ALLOC");
	pt.pt_id = ioas.out_ioas_id;
	if (ioctl(v->device, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &pt))
		return fail(v, "VFIO_DEVICE_ATTACH_IOMMUFD_PT");
	return true;
}

static bool vmm_setup(struct vmm *v)
{
	struct kvm_create_device cd = { .type = KVM_DEV_TYPE_VFIO };
	struct kvm_device_attr attr = {
		.group = KVM_DEV_VFIO_FILE,
		.attr = KVM_DEV_VFIO_FILE_ADD,
	};
	char path[512];
	int kvm, err;

	wait_for("/dev/kvm");	/* again after the modules are reloaded */
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return fail(v, "open /dev/kvm");
	v->vm = ioctl(kvm, KVM_CREATE_VM, 0);
	err = errno;
	close(kvm);
	errno = err;
	if (v->vm < 0)
		return fail(v, "KVM_CREATE_VM");
	snprintf(v->debugfs, sizeof(v->debugfs), KVM_DEBUGFS "/%d-%d",
		 getpid(), v->vm);
	if (ioctl(v->vm, KVM_CREATE_DEVICE, &cd))
		return fail(v, "KVM_CREATE_DEVICE(KVM_DEV_TYPE_VFIO)");
	v->kvm_vfio = cd.fd;

	snprintf(path, sizeof(path), MDEV_PARENT "/%s/create", mdev_type);
	errno = -write_file(path, v->uuid);
	if (errno)
		return fail(v, path);
	if (!(v->path == CDEV_PATH ? vmm_open_cdev(v, &attr) :
				     vmm_open_group(v, &attr)))
		return false;
	if (!exists(v->debugfs)) {
		errno = ENOENT;
		return fail(v, v->debugfs);
	}
	return true;
}

/* Remove the mdev once nothing has it open any more. */
static void vmm_remove_mdev(struct vmm *v, const char *name)
{
	char path[256];
	int err;

	snprintf(path, sizeof(path), MDEV_DEVICES "/%s", v->uuid);
	if (!exists(path))
		return;
	strcat(path, "/remove");
	err = write_file(path, "1");
	if (err)
		printf("E2E: INFO %s: removing mdev %s: %s\n", name, v->uuid,
		       strerror(-err));
}

/*
 * Load the modules /modules.list names, one path per line, in order.
 * Returns NULL, or what failed; @loaded gets the names.
 */
static const char *load_modules(char *loaded, size_t size)
{
	static char failed[300];
	char line[256];
	FILE *f = fopen("/modules.list", "r");
	int fd;

	*loaded = '\0';
	if (!f) {
		snprintf(failed, sizeof(failed), "/modules.list: %s",
			 strerror(errno));
		return failed;
	}
	*failed = '\0';
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!*line)
			continue;
		fd = open(line, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || (syscall(SYS_finit_module, fd, "", 0) &&
			       errno != EEXIST)) {
			if (!*failed)
				snprintf(failed, sizeof(failed), "%s: %s",
					 line, strerror(errno));
		} else {
			snprintf(loaded + strlen(loaded),
				 size - strlen(loaded), "%s%s",
				 *loaded ? " " : "", strrchr(line, '/') + 1);
		}
		if (fd >= 0)
			close(fd);
	}
	fclose(f);
	if (!*failed && !*loaded)
		snprintf(failed, sizeof(failed), "/modules.list names none");
	return *failed ? failed : NULL;
}

static bool setup_modules(void)
{
	char loaded[512];
	const char *failed = load_modules(loaded, sizeof(loaded));

	return check(!failed, "setup.modules", "%s", failed ? failed : loaded);
}

static int unload(const char *name)
{
	return syscall(SYS_delete_module, name, O_NONBLOCK) ? -errno : 0;
}

/* /sys/module/<mod>/refcnt, or -1 if the module is not loaded. */
static int refcnt(const char *mod)
{
	char path[64];
	FILE *f;
	int n = -1;

	snprintf(path, sizeof(path), "/sys/module/%s/refcnt", mod);
	f = fopen(path, "re");
	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n;
}

/*
 * Module stages, on when the kernel command line has e2e_module_stages=1
 * (every kernel but the unpatched base, where one of them is the
 * vendor-module bug and would leave a VM without its module): at each
 * stage of a scenario, read the modules' counts, then try to unload
 * kvm_amd, then kvm.  While anything holds the VM, kvm_amd's count is one
 * for each of the VM and kvm-vfio fds still open (their fops' owner) and
 * one for the VM itself (patch 1), and kvm's is one for vfio's
 * symbol_get() while vfio holds its reference; the VM is alive and each
 * unload is refused.  Once the last reference is gone, close() has
 * returned with the VM gone and nothing may pin either module: both
 * counts are back where they were after loading, and both unload, to be
 * loaded again for what follows.  (kvm cannot unload while kvm_amd,
 * which uses it, is loaded: its own pins are seen in its count.)
 */
static bool module_stages;
static bool modules_lost;	/* one went while a VM needed it: stop */
static int base_amd, base_kvm;	/* the counts right after loading */

static void module_baseline(void)
{
	base_amd = refcnt("kvm_amd");
	base_kvm = refcnt("kvm");
}

struct stages {
	bool ok;
	char seen[1024];
};

/*
 * One stage: @fds VM and kvm-vfio fds still open, @vfio whether vfio
 * still holds its VM reference.  Returns false if kvm_amd went while the
 * VM needed it: the caller must then close nothing more (teardown would
 * call into freed module text) and leaves the VM behind, and no more
 * module stages run.
 */
static bool stage(struct stages *s, const char *what, int fds, bool vfio,
		  const char *debugfs)
{
	bool held = fds || vfio, alive = exists(debugfs), ok;
	int want_amd = held ? fds + 1 : 0, want_kvm = vfio;
	int amd = refcnt("kvm_amd") - base_amd, kvm = refcnt("kvm") - base_kvm;
	int err_amd = unload("kvm_amd");
	int err_kvm = unload("kvm");
	char loaded[512];
	const char *failed = NULL;

	ok = alive == held && amd == want_amd && kvm == want_kvm &&
	     (held ? err_amd && err_kvm : !err_amd && !err_kvm);
	if (held && !err_amd) {
		modules_lost = true;
	} else if (!err_amd || !err_kvm) {
		failed = load_modules(loaded, sizeof(loaded));
		module_baseline();
	}
	snprintf(s->seen + strlen(s->seen), sizeof(s->seen) - strlen(s->seen),
		 "%s%s: VM %s, kvm_amd %+d (want %+d) %s, kvm %+d (want %+d) %s%s%s",
		 *s->seen ? "; " : "", what, alive ? "alive" : "gone",
		 amd, want_amd, err_amd ? "refused" : "unloaded",
		 kvm, want_kvm, err_kvm ? "refused" : "unloaded",
		 failed ? ", reload: " : "", failed ? failed : "");
	s->ok &= ok && !failed;
	return !modules_lost;
}

enum order { VM_KVMVFIO_DEVICE, KVMVFIO_VM_DEVICE, DEVICE_FIRST };

/*
 * Close the VMM's fds in @order and check, right after each close()
 * returns, whether the VM still exists: it must live exactly until the
 * last reference goes, and be gone when that close() returns.  With
 * @stages, the check is instead the module stages' (modules.<name>).
 */
static void scenario(const char *name, enum order order, int n,
		     enum vfio_path path, bool stages)
{
	static const char *const label[] = { "vm fd", "kvm-vfio fd",
					     "device fd" };
	struct stages st = { .ok = true };
	struct vmm v;
	int *fds[3], i;
	bool alive[3];
	double t0, took = 0;
	char seen[256] = "";
	const char *what;

	vmm_init(&v, n, path);
	if (!vmm_setup(&v)) {
		check(false, name, "setup: %s", v.err);
		vmm_close_all(&v);
		vmm_remove_mdev(&v, name);
		return;
	}
	switch (order) {
	case VM_KVMVFIO_DEVICE:
		fds[0] = &v.vm;
		fds[1] = &v.kvm_vfio;
		fds[2] = &v.device;
		break;
	case KVMVFIO_VM_DEVICE:
		fds[0] = &v.kvm_vfio;
		fds[1] = &v.vm;
		fds[2] = &v.device;
		break;
	default:
		fds[0] = &v.device;
		fds[1] = &v.kvm_vfio;
		fds[2] = &v.vm;
		break;
	}
	if (stages && !stage(&st, "set up", 2, true, v.debugfs))
		goto lost;
	for (i = 0; i < 3; i++) {
		what = fds[i] == &v.vm ? label[0] :
		       fds[i] == &v.kvm_vfio ? label[1] : label[2];
		/*
		 * The kvm-vfio device holds the cdev's file: QEMU takes it
		 * back before closing the device fd, as here.
		 */
		if (fds[i] == &v.device && v.path == CDEV_PATH &&
		    v.kvm_vfio >= 0 && !vmm_file_del(&v)) {
			check(false, name, "%s", v.err);
			break;
		}
		t0 = now();
		close_fd(fds[i]);
		took = now() - t0;
		alive[i] = exists(v.debugfs);
		snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen),
			 "%s%s closed: VM %s", i ? ", " : "", what,
			 alive[i] ? "alive" : "gone");
		if (stages && !stage(&st, what, (v.vm >= 0) + (v.kvm_vfio >= 0),
				     v.device >= 0, v.debugfs))
			goto lost;
	}
	if (i < 3) {
		vmm_close_all(&v);
		vmm_remove_mdev(&v, name);
		return;
	}
	vmm_close_all(&v);
	vmm_remove_mdev(&v, name);
	if (stages)
		check(st.ok, name, "%s", st.seen);
	else
		check(alive[0] && alive[1] && !alive[2], name,
		      "%s %s; last close() took %.1f ms", v.debugfs, seen,
		      took * 1e3);
	return;
lost:
	check(false, name, "%s; the rest of the VMM's fds left open", st.seen);
}

/*
 * (d) The VMM dies holding only the device fd: its files are closed on
 * the exit path, and the VM must be gone by the time the parent reaps it.
 * With @stages, the module stages run while the child holds the device
 * fd and once it is reaped.
 */
static void scenario_exit(const char *name, int n, enum vfio_path path,
			  bool stages)
{
	struct stages st = { .ok = true };
	struct vmm v;
	char msg[512];
	int pipefd[2], status;
	ssize_t len;
	pid_t pid;

	vmm_init(&v, n, path);
	if (pipe(pipefd))
		return (void)check(false, name, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		check(false, name, "fork: %s", strerror(errno));
		return;
	}
	if (!pid) {
		close(pipefd[0]);
		if (!vmm_setup(&v)) {
			snprintf(msg, sizeof(msg), "!setup: %.400s", v.err);
		} else {
			close_fd(&v.vm);
			close_fd(&v.kvm_vfio);
			snprintf(msg, sizeof(msg), "%s", v.debugfs);
		}
		if (write(pipefd[1], msg, strlen(msg) + 1) < 0)
			_exit(1);
		for (;;)
			pause();
	}
	close(pipefd[1]);
	len = read(pipefd[0], msg, sizeof(msg) - 1);
	close(pipefd[0]);
	msg[len > 0 ? len : 0] = '\0';
	if (len > 0 && msg[0] != '!' && !exists(msg)) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		check(false, name, "%s gone while the child still held the device fd",
		      msg);
	} else if (stages && len > 0 && msg[0] != '!' &&
		   !stage(&st, "child holds the device fd", 0, true, msg)) {
		/* the child stays, with the VM its device fd holds */
		check(false, name, "%s; the child left holding its fds", st.seen);
		return;
	} else {
		kill(pid, SIGKILL);
		if (waitpid(pid, &status, 0) != pid)
			check(false, name, "waitpid: %s", strerror(errno));
		else if (len <= 0 || msg[0] == '!')
			check(false, name, "child %s",
			      len > 0 ? msg + 1 : "died before reporting");
		else if (stages)
			check(stage(&st, "child reaped", 0, false, msg) && st.ok,
			      name, "%s", st.seen);
		else
			check(!exists(msg), name,
			      "%s alive while the child held the device fd, %s after SIGKILL and waitpid (%s)",
			      msg, exists(msg) ? "still there" : "gone",
			      WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ?
			      "killed" : "unexpected exit status");
	}
	vmm_remove_mdev(&v, name);
}

/*
 * (e) The VMM closes its VM and kvm-vfio fds and keeps only
 * the device fd: nothing but vfio's reference keeps the VM, and no open
 * file pins kvm_amd.  Returns the device fd if kvm_amd could be unloaded
 * all the same (the bug), so that main() closes it last; else -1.
 */
static int scenario_vendor_module(const char *name, int n)
{
	struct vmm v;
	bool alive, gone;
	int err, err_amd, err_kvm, fd;

	vmm_init(&v, n, GROUP_PATH);
	if (!vmm_setup(&v)) {
		check(false, name, "setup: %s", v.err);
		vmm_close_all(&v);
		vmm_remove_mdev(&v, name);
		return -1;
	}
	close_fd(&v.vm);
	close_fd(&v.kvm_vfio);
	alive = exists(v.debugfs);
	err = unload("kvm_amd");
	/* The harness judges this line: "unloaded vm-alive" is the bug. */
	printf("E2E: MODULE kvm_amd-with-vm %s vm-%s (%s)\n",
	       err ? "refused" : "unloaded", alive ? "alive" : "gone",
	       err ? strerror(-err) : "no error");
	if (!err) {
		fd = v.device;
		v.device = -1;
		vmm_close_all(&v);
		return fd;
	}
	close_fd(&v.device);
	gone = !exists(v.debugfs);
	vmm_close_all(&v);
	vmm_remove_mdev(&v, name);
	err_amd = unload("kvm_amd");
	err_kvm = unload("kvm");
	check(alive && gone && !err_amd && !err_kvm, name,
	      "VM %s with only the device fd open, kvm_amd refused (%s); VM %s after close(); then kvm_amd %s, kvm %s",
	      alive ? "alive" : "gone", strerror(-err),
	      gone ? "gone" : "alive",
	      err_amd ? strerror(-err_amd) : "unloaded",
	      err_kvm ? strerror(-err_kvm) : "unloaded");
	return -1;
}

/* No VM may be left over in debugfs: each one was destroyed. */
static void check_no_vm_left(void)
{
	char left[512] = "";
	struct dirent *de;
	DIR *d = opendir(KVM_DEBUGFS);
	int n = 0;

	if (!d) {
		check(false, "no-vm-left", "%s: %s", KVM_DEBUGFS, strerror(errno));
		return;
	}
	while ((de = readdir(d))) {
		/* VM directories are <pid>-<fd>; the rest are global stats */
		if (de->d_name[0] < '0' || de->d_name[0] > '9' ||
		    !strchr(de->d_name, '-'))
			continue;
		n++;
		snprintf(left + strlen(left), sizeof(left) - strlen(left),
			 " %s", de->d_name);
	}
	closedir(d);
	check(!n, "no-vm-left", "%d VM directories left in %s%s", n,
	      KVM_DEBUGFS, left);
}

/* ---- /proc/lockdep ---- */

struct lclass {
	char *id;	/* "<key> <name>": a key can have several subclasses */
	char *name;
	char **dep_ids;
	int *deps;
	int ndeps, cap;
};

static struct lclass *classes;
static int nclasses, cclasses;

/* Forget what an earlier read_lockdep() found: each read is a snapshot. */
static void free_classes(void)
{
	int i, j;

	for (i = 0; i < nclasses; i++) {
		for (j = 0; j < classes[i].ndeps; j++)
			free(classes[i].dep_ids[j]);
		free(classes[i].dep_ids);
		free(classes[i].deps);
		free(classes[i].id);
		free(classes[i].name);
	}
	nclasses = 0;
}

static int find_class(const char *id)
{
	int i;

	for (i = 0; i < nclasses; i++)
		if (!strcmp(classes[i].id, id))
			return i;
	return -1;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p) {
		perror("strdup");
		exit(1);
	}
	return p;
}

static void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size);
	if (!p) {
		perror("realloc");
		exit(1);
	}
	return p;
}

static void chomp(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

/*
 * Class lines:  "<key> FD: <n> BD: <n> <usage>: <name>"
 * their deps:   " -> [<key>] <name>"   (distance 1 only)
 */
static const char *lockdep_path = "/proc/lockdep";

static bool read_lockdep(char *err, size_t errlen)
{
	FILE *f = fopen(lockdep_path, "re");
	static char line[4096];
	char id[4200], *p, *q;
	struct lclass *c = NULL;
	/* e2e_dump_lockdep=1 on the kernel command line: for debugging */
	bool dump = getenv("e2e_dump_lockdep");
	int i, j;

	if (!f) {
		snprintf(err, errlen, "%s: %s", lockdep_path, strerror(errno));
		return false;
	}
	free_classes();
	while (fgets(line, sizeof(line), f)) {
		chomp(line);
		if (dump)
			printf("LOCKDEP: %s\n", line);
		if (!strncmp(line, " -> [", 5)) {
			if (!c)
				continue;
			p = line + 5;
			q = strchr(p, ']');
			if (!q || q[1] != ' ')
				continue;
			*q = '\0';
			snprintf(id, sizeof(id), "%s %s", p, q + 2);
			if (c->ndeps == c->cap) {
				c->cap = c->cap ? 2 * c->cap : 8;
				c->dep_ids = xrealloc(c->dep_ids,
						      c->cap * sizeof(char *));
			}
			c->dep_ids[c->ndeps++] = xstrdup(id);
			continue;
		}
		p = strstr(line, " BD:");
		q = p ? strstr(p + 4, ": ") : NULL;
		if (!q || line[0] == ' ')
			continue;
		if (nclasses == cclasses) {
			cclasses = cclasses ? 2 * cclasses : 1024;
			classes = xrealloc(classes, cclasses * sizeof(*classes));
		}
		c = &classes[nclasses++];
		memset(c, 0, sizeof(*c));
		*strchr(line, ' ') = '\0';
		snprintf(id, sizeof(id), "%s %s", line, q + 2);
		c->id = xstrdup(id);
		c->name = xstrdup(q + 2);
	}
	fclose(f);
	for (i = 0; i < nclasses; i++) {
		c = &classes[i];
		c->deps = xrealloc(NULL, (c->ndeps + 1) * sizeof(int));
		for (j = 0; j < c->ndeps; j++)
			c->deps[j] = find_class(c->dep_ids[j]);
	}
	if (!nclasses) {
		snprintf(err, errlen, "/proc/lockdep lists no lock class");
		return false;
	}
	return true;
}

/* The name without lockdep's "#<version>" and "/<subclass>" suffixes. */
static const char *base_name(const char *name)
{
	static char buf[512];
	char *p;

	snprintf(buf, sizeof(buf), "%s", name);
	p = strrchr(buf, '/');
	if (p && p[1] >= '0' && p[1] <= '9')
		*p = '\0';
	p = strrchr(buf, '#');
	if (p && p[1] >= '0' && p[1] <= '9')
		*p = '\0';
	return buf;
}

/* vfio's locks held around vfio_device_put_kvm() on the group path. */
static bool is_vfio_lock(const char *name)
{
	const char *n = base_name(name);

	return strstr(n, "dev_set->lock") || !strcmp(n, "&group->group_lock");
}

/*
 * Locks of VM teardown: KVM's own (kvm_lock, kvm_usage_lock, &kvm->lock,
 * slots_lock, srcu, irq_srcu, mmu_lock, slots_arch_lock, kvm_debugfs,
 * &kvm->arch.*, ...) and the kvm-vfio device's.  vfio's kvm_ref_lock is
 * vfio's own, taken under dev_set->lock on open by design.
 */
/*
 * An mm's lock, whose chains are not followed: vfio copies to user space
 * under dev_set->lock (the cdev bind's out_devid and attach's pt_id, so
 * lockdep records dev_set->lock -> mmap_lock from might_fault()), and a
 * VM's mm reaches
 * KVM's locks through its MMU notifiers (mmap_lock -> srcu ->
 * kvm->srcu) whoever drops the last reference.  Those chains exist with
 * or without VM teardown under vfio's locks.
 */
static bool is_mm_lock(const char *name)
{
	return !strcmp(base_name(name), "&mm->mmap_lock");
}

static bool is_kvm_lock(const char *name)
{
	const char *n = base_name(name);

	if (strstr(n, "kvm_ref_lock"))
		return false;
	return strstr(n, "kvm") || !strcmp(n, "&kv->lock");
}

/*
 * Every chain from one of vfio's locks to a KVM lock, as "E2E: DEP<tag>"
 * lines and an "E2E: DEPS<tag> <count>" line.  @checks: also the checks
 * that lockdep is on and knows both sides' classes, and the direct
 * dependencies of vfio's locks.
 */
static void report_lockdep_deps(const char *tag, bool checks)
{
	int *dist, *prev, *queue, head, tail, i, j, k, from, deps = 0;
	int nvfio = 0, nkvm = 0;
	char err[256], via[2048], path[2048];
	FILE *f;
	char line[256];
	int debug_locks = -1;

	f = fopen("/proc/lockdep_stats", "re");
	while (f && fgets(line, sizeof(line), f))
		sscanf(line, " debug_locks: %d", &debug_locks);
	if (f)
		fclose(f);
	if (checks)
		check(debug_locks == 1, "lockdep.active",
		      "debug_locks: %d (0 means lockdep turned itself off and recorded nothing after)",
		      debug_locks);

	if (!read_lockdep(err, sizeof(err))) {
		if (checks)
			check(false, "lockdep.classes", "%s", err);
		printf("E2E: DEPS%s -1\n", tag);
		return;
	}
	for (i = 0; i < nclasses; i++) {
		nvfio += is_vfio_lock(classes[i].name);
		nkvm += is_kvm_lock(classes[i].name);
	}
	if (checks)
		check(nvfio >= 2 && nkvm > 0, "lockdep.classes",
		      "%d classes, %d of vfio's (dev_set->lock, group->group_lock), %d of KVM",
		      nclasses, nvfio, nkvm);

	dist = xrealloc(NULL, nclasses * sizeof(int));
	prev = xrealloc(NULL, nclasses * sizeof(int));
	queue = xrealloc(NULL, nclasses * sizeof(int));
	for (from = 0; from < nclasses; from++) {
		if (!is_vfio_lock(classes[from].name))
			continue;
		for (j = 0; checks && j < classes[from].ndeps; j++)
			printf("E2E: INFO vfio-dep %s -> %s\n", classes[from].name,
			       classes[from].deps[j] >= 0 ?
			       classes[classes[from].deps[j]].name :
			       classes[from].dep_ids[j]);
		/* breadth first: the shortest chain to each KVM lock */
		for (i = 0; i < nclasses; i++)
			dist[i] = -1;
		head = 0;
		tail = 0;
		dist[from] = 0;
		prev[from] = -1;
		queue[tail++] = from;
		while (head < tail) {
			i = queue[head++];
			if (i != from && is_kvm_lock(classes[i].name)) {
				/* the chain, written backwards from its end */
				path[0] = '\0';
				for (k = prev[i]; k != from; k = prev[k]) {
					snprintf(via, sizeof(via), "%s%s%s",
						 classes[k].name,
						 *path ? " -> " : "", path);
					snprintf(path, sizeof(path), "%s", via);
				}
				via[0] = '\0';
				printf("E2E: DEP%s %s -> %s%s%s%s\n", tag,
				       classes[from].name, classes[i].name,
				       *path ? " (via " : "", path,
				       *path ? ")" : "");
				deps++;
				continue;	/* its own deps are KVM's business */
			}
			if (dist[i] == MAX_DEPTH)
				continue;
			for (j = 0; j < classes[i].ndeps; j++) {
				k = classes[i].deps[j];
				if (k < 0 || dist[k] >= 0)
					continue;
				if (is_mm_lock(classes[k].name)) {
					if (checks)
						printf("E2E: INFO not followed: %s -> %s\n",
						       classes[i].name, classes[k].name);
					dist[k] = MAX_DEPTH;	/* once per vfio lock */
					prev[k] = i;
					continue;
				}
				dist[k] = dist[i] + 1;
				prev[k] = i;
				queue[tail++] = k;
			}
		}
	}
	printf("E2E: DEPS%s %d\n", tag, deps);
	free(dist);
	free(prev);
	free(queue);
}

static void report_lockdep(void)
{
	report_lockdep_deps("", true);
}

/* ---- kernel log ---- */

static void check_kmsg(void)
{
	static const char *const reports[] = {
		"WARNING:", "BUG:", "Oops", "Kernel panic",
		"possible circular locking", "possible recursive locking",
		"inconsistent lock state", "lock held when returning",
		"suspicious RCU usage", "DEBUG_LOCKS_WARN_ON",
		"INFO: task", "refcount_t: ",
	};
	char rec[8192], first[256] = "";
	unsigned int records = 0, hits = 0;
	char *msg, *nl;
	ssize_t len;
	size_t i;
	int fd;

	fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		check(false, "kernel-log", "open /dev/kmsg: %s", strerror(errno));
		return;
	}
	for (;;) {
		len = read(fd, rec, sizeof(rec) - 1);
		if (len < 0 && errno == EPIPE)
			continue;	/* records overwritten meanwhile */
		if (len <= 0)
			break;
		rec[len] = '\0';
		records++;
		msg = strchr(rec, ';');
		msg = msg ? msg + 1 : rec;
		nl = strchr(msg, '\n');
		if (nl)
			*nl = '\0';
		for (i = 0; i < ARRAY_SIZE(reports); i++) {
			if (!strstr(msg, reports[i]))
				continue;
			if (!hits++)
				snprintf(first, sizeof(first), "%.200s", msg);
			break;
		}
	}
	if (len < 0 && errno != EAGAIN)
		check(false, "kernel-log", "read /dev/kmsg: %s", strerror(errno));
	else
		check(!hits && records, "kernel-log",
		      "%u records, %u report lines%s%s", records, hits,
		      hits ? ", first: " : "", first);
	close(fd);
}

/* The module stages' runs: every scenario of both paths. */
static const struct module_scenario {
	const char *name;
	enum order order;
	bool exit;
	int n;
	enum vfio_path path;
} module_scenarios[] = {
	{ "modules.a.vm-kvmvfio-device", VM_KVMVFIO_DEVICE, false, 21, GROUP_PATH },
	{ "modules.b.kvmvfio-vm-device", KVMVFIO_VM_DEVICE, false, 22, GROUP_PATH },
	{ "modules.c.device-first", DEVICE_FIRST, false, 23, GROUP_PATH },
	{ "modules.d.exit-holding-device", 0, true, 24, GROUP_PATH },
	{ "modules.cdev.a.vm-kvmvfio-device", VM_KVMVFIO_DEVICE, false, 31, CDEV_PATH },
	{ "modules.cdev.b.kvmvfio-vm-device", KVMVFIO_VM_DEVICE, false, 32, CDEV_PATH },
	{ "modules.cdev.c.device-first", DEVICE_FIRST, false, 33, CDEV_PATH },
	{ "modules.cdev.d.exit-holding-device", 0, true, 34, CDEV_PATH },
};

int main(int argc, char **argv)
{
	/* "--lockdep FILE": only analyse a saved /proc/lockdep (on a host) */
	if (argc == 3 && !strcmp(argv[1], "--lockdep")) {
		setvbuf(stdout, NULL, _IOLBF, 0);
		lockdep_path = argv[2];
		report_lockdep();
		return 0;
	}
	int held = -1;
	size_t i;
	bool ok;

	ok = setup_guest() && setup_modules() && setup_mdev_type();
	module_stages = getenv("e2e_module_stages");
	if (ok) {
		check(exists("/dev/kvm") && exists("/dev/vfio/vfio") &&
		      exists("/dev/iommu") && exists(KVM_DEBUGFS),
		      "setup.devices",
		      "/dev/kvm %s, /dev/vfio/vfio %s, /dev/iommu %s, %s %s",
		      exists("/dev/kvm") ? "present" : "missing",
		      exists("/dev/vfio/vfio") ? "present" : "missing",
		      exists("/dev/iommu") ? "present" : "missing",
		      KVM_DEBUGFS, exists(KVM_DEBUGFS) ? "present" : "missing");
		/*
		 * The VM fd closed last, alone first: vfio's put is not the
		 * last one, and what lockdep knows after it is what a test
		 * that only ever closes in this order would learn.
		 */
		scenario("c.device-first", DEVICE_FIRST, 3, GROUP_PATH, false);
		report_lockdep_deps("-VMLAST", false);
		/*
		 * The cdev path next, and what lockdep knows after it: the
		 * group path has not yet had vfio's put be the last one.
		 */
		scenario("cdev.c.device-first", DEVICE_FIRST, 13, CDEV_PATH, false);
		scenario("cdev.a.vm-kvmvfio-device", VM_KVMVFIO_DEVICE, 11,
			 CDEV_PATH, false);
		scenario("cdev.b.kvmvfio-vm-device", KVMVFIO_VM_DEVICE, 12,
			 CDEV_PATH, false);
		scenario_exit("cdev.d.exit-holding-device", 14, CDEV_PATH, false);
		report_lockdep_deps("-CDEV", false);
		scenario("a.vm-kvmvfio-device", VM_KVMVFIO_DEVICE, 1,
			 GROUP_PATH, false);
		scenario("b.kvmvfio-vm-device", KVMVFIO_VM_DEVICE, 2,
			 GROUP_PATH, false);
		scenario_exit("d.exit-holding-device", 4, GROUP_PATH, false);
		check_no_vm_left();
	}
	/* Before any unload: an unloaded module's lock classes go away. */
	report_lockdep();
	if (ok && module_stages) {
		module_baseline();
		for (i = 0; i < ARRAY_SIZE(module_scenarios) && !modules_lost; i++) {
			const struct module_scenario *m = &module_scenarios[i];

			if (m->exit)
				scenario_exit(m->name, m->n, m->path, true);
			else
				scenario(m->name, m->order, m->n, m->path, true);
		}
	}
	if (modules_lost)
		check(false, "modules.lost",
		      "a KVM module was unloaded while a VM needed it: the rest not run");
	else if (ok)
		held = scenario_vendor_module("e.vendor-module-pinned", 5);
	check_kmsg();
	/* The harness compares the count with the checks it could read. */
	printf("E2E: DONE %u checks\n", guest_checks);
	fflush(stdout);
	sync();
	if (held >= 0) {
		printf("E2E: INFO closing the device fd with kvm_amd unloaded\n");
		fflush(stdout);
		close(held);
		printf("E2E: INFO close() returned\n");
		fflush(stdout);
	}

	reboot(RB_POWER_OFF);
	/* Only if powering off failed; QEMU runs with -no-reboot. */
	printf("vfio_kvm_e2e: power off: %s\n", strerror(errno));
	fflush(stdout);
	reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}
