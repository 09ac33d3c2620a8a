/*
 * The ABI-1 baseline of gocoro.h, frozen: the GoCoroSpec and the GoCoroAPI function table as
 * the first ABI-1 header published them (the table before the waker and blocking-work members
 * were appended).  Never edit this file: it stands for an extension compiled long ago, and
 * tests/test_abi_compat.py shows that such an extension still imports and runs with the
 * current library (tables and specs only grow within an ABI version).
 */
#ifndef GOCORO_ABI1_BASELINE_H
#define GOCORO_ABI1_BASELINE_H
#include <stddef.h>
#include <stdint.h>

#define OLD_GOCORO_ABI_VERSION 1u
#define OLD_GOCORO_ERROR  (-1)
#define OLD_GOCORO_RETURN 0
#define OLD_GOCORO_NEXT   1
#define OLD_GOCORO_AWAIT  2
#define OLD_GOCORO_ITEM   3
#define OLD_GOCORO_KIND_COROUTINE       0u
#define OLD_GOCORO_KIND_GENERATOR       1u
#define OLD_GOCORO_KIND_ITERATOR        2u
#define OLD_GOCORO_KIND_ASYNC_GENERATOR 3u
#define OLD_GOCORO_CAPSULE_NAME "gocoro._C_API"

struct _object;
typedef int (*OldVisitFn)(struct _object *obj, void *arg);
typedef int (*OldStepFn)(struct _object *self, void *state, struct _object *sent,
                         struct _object *thrown, struct _object **result);
typedef int (*OldTraverseFn)(void *state, OldVisitFn visit, void *arg);
typedef void (*OldClearFn)(void *state);
typedef void (*OldFinalizeFn)(void *state);

typedef struct OldGoCoroSpec {
    uint32_t abi_version;
    uint32_t struct_size;
    uint32_t kind;
    uint32_t flags;
    const char *name;
    const char *qualname;
    const char *filename;
    int32_t firstlineno;
    uint32_t reserved0;
    size_t state_size;
    OldStepFn step;
    OldTraverseFn traverse;
    OldClearFn clear;
    OldFinalizeFn finalize;
} OldGoCoroSpec;

typedef struct OldGoCoroCode OldGoCoroCode;

typedef struct OldGoCoroAPI {
    uint32_t abi_version;
    uint32_t struct_size;
    OldGoCoroCode *(*Prepare)(const OldGoCoroSpec *spec);
    struct _object *(*New)(OldGoCoroCode *code, const void *init, size_t init_size, void **state_out);
    void *(*GetState)(struct _object *obj);
    int (*RaisePanic)(const char *msg);
    int (*Rethrow)(struct _object *exc);
    int (*Check)(struct _object *obj);
    struct _object *coroutine_type;
    struct _object *panic_exception;
} OldGoCoroAPI;

#endif
