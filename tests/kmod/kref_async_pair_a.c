// SPDX-License-Identifier: GPL-2.0-only
/* kref_async_pair_a.ko, pair module 0: see kref_async_pair.h. */
#define KAP_PAIR	0
#include "kref_async_pair.h"
