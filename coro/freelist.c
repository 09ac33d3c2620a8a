/* coro/freelist.c: storage of the object and wrapper free lists (see freelist.h). */
#include "coro/freelist.h"

GoCoroObject *gc_fl[GC_FL_BUCKETS][GC_FL_DEPTH];
int gc_fl_len[GC_FL_BUCKETS];

GoCoroWrapper *wr_fl[WR_FL_DEPTH];
int wr_fl_len;
