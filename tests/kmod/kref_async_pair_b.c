// SPDX-License-Identifier: GPL-2.0-only
/* kref_async_pair_b.ko, pair module 1: see kref_async_pair.h. */
#define KAP_PAIR	1
#include "kref_async_pair.h"
