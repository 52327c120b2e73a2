/* SPDX-License-Identifier: GPL-2.0 */
/*
 * release_map.h - tell lockdep, at every put, that a release may run there
 *
 * A put that drops the last reference runs the object's release in the
 * caller's context, under the caller's locks.  Lockdep learns the locks
 * that release takes, ordered after the caller's, only on a day when a
 * put made under those locks happens to be the last one; the same code
 * is silent on every other day, although it can deadlock on any of them.
 *
 * A release map is a lockdep map that stands for "the release of objects
 * of this type".  The release runs inside it, and an annotated put
 * acquires and drops it whether or not the put is the last, so lockdep
 * records the chain caller's locks -> release map -> release's locks the
 * first time each path runs.  A cycle through that chain is then reported
 * at once, naming the put and the release.  With
 * CONFIG_PROVE_RELEASE_MAPS off, a map is empty and the annotations
 * compile to nothing.
 */

#ifndef _LINUX_RELEASE_MAP_H
#define _LINUX_RELEASE_MAP_H

#include <linux/kref.h>
#include <linux/lockdep.h>

#ifdef CONFIG_PROVE_RELEASE_MAPS

/**
 * struct release_map - lockdep's stand-in for the release of a type
 * @dep_map: the map; acquired by every annotated put, held by the release
 */
struct release_map {
	struct lockdep_map	dep_map;
};

/**
 * RELEASE_MAP_INIT - initializer of a release map for one type of object
 * @name: the map's variable, whose name is also its lockdep class name
 *
 * For a map in static storage (a global or a static variable), which is
 * its own lockdep key::
 *
 *	static struct release_map foo_release_map =
 *		RELEASE_MAP_INIT(foo_release_map);
 */
#define RELEASE_MAP_INIT(name)						\
	{ .dep_map = STATIC_LOCKDEP_MAP_INIT(#name, &(name)) }

/*
 * A release that puts another object of its own type (KVM's SEV mirror
 * VM drops its owner VM from the mirror's teardown) nests one level.
 */
static __always_inline int release_map_subclass(struct release_map *map)
{
	return lock_is_held(&map->dep_map) == LOCK_STATE_HELD ?
	       SINGLE_DEPTH_NESTING : 0;
}

/*
 * The helpers are macros, as lock_map_acquire() is, so that _THIS_IP_
 * is the caller's on every architecture.
 */

/**
 * release_map_might_run - a put that may run the release of @map's type
 * @map: the type's release map
 *
 * Call it at every put whose release runs synchronously when the put is
 * the last, before the count is dropped.  A put that can never be the
 * last one must not call it: it would teach lockdep a dependency that
 * cannot happen.
 *
 * For puts made in process context: the map is taken with interrupts
 * on, so a put from an interrupt handler would be reported as an
 * inconsistent use of the map.
 */
#define release_map_might_run(map)					\
	do {								\
		struct release_map *__rm = (map);			\
									\
		lock_acquire_exclusive(&__rm->dep_map,			\
				       release_map_subclass(__rm), 0,	\
				       NULL, _THIS_IP_);		\
		lock_release(&__rm->dep_map, _THIS_IP_);		\
	} while (0)

/**
 * release_map_begin - start running a release of @map's type
 * @map: the type's release map
 *
 * The release, from here to release_map_end(), runs inside the map, so
 * that the locks it takes are ordered after it.
 */
#define release_map_begin(map)						\
	do {								\
		struct release_map *__rm = (map);			\
									\
		lock_acquire_exclusive(&__rm->dep_map,			\
				       release_map_subclass(__rm), 0,	\
				       NULL, _THIS_IP_);		\
	} while (0)

/**
 * release_map_end - the release that release_map_begin() started is done
 * @map: the type's release map
 */
#define release_map_end(map)	lock_release(&(map)->dep_map, _THIS_IP_)

#else /* !CONFIG_PROVE_RELEASE_MAPS */

struct release_map { };

#define RELEASE_MAP_INIT(name)		((typeof(name)){ })
#define release_map_might_run(map)	((void)(map))
#define release_map_begin(map)		((void)(map))
#define release_map_end(map)		((void)(map))

#endif /* CONFIG_PROVE_RELEASE_MAPS */

/**
 * kref_put_mapped - kref_put() that tells lockdep the release may run here
 * @kref: the count
 * @release: called with @kref when the count hits zero
 * @map: the release map of @release's type, set up with RELEASE_MAP_INIT()
 *
 * Behaves as kref_put(); with CONFIG_PROVE_RELEASE_MAPS, every call
 * records the caller's locks as held around @release, final put or not.
 *
 * Return: 1 if this put dropped the last reference, 0 otherwise.
 */
static inline int kref_put_mapped(struct kref *kref,
				  void (*release)(struct kref *kref),
				  struct release_map *map)
{
	release_map_might_run(map);
	if (refcount_dec_and_test(&kref->refcount)) {
		release_map_begin(map);
		release(kref);
		release_map_end(map);
		return 1;
	}
	return 0;
}

#endif /* _LINUX_RELEASE_MAP_H */
