/* Prints the C layout of gocoro.h as "name value" lines; tests/layout.rs compares it with the
 * Rust declarations. */
#include <stdio.h>
#include "gocoro.h"

#define SIZE(T) printf("sizeof %s %zu\nalignof %s %zu\n", #T, sizeof(T), #T, _Alignof(T))
#define OFF(T, m) printf("offsetof %s.%s %zu\n", #T, #m, offsetof(T, m))

int main(void)
{
    SIZE(GoCoroSpec);
    OFF(GoCoroSpec, abi_version); OFF(GoCoroSpec, struct_size); OFF(GoCoroSpec, kind);
    OFF(GoCoroSpec, flags); OFF(GoCoroSpec, name); OFF(GoCoroSpec, qualname);
    OFF(GoCoroSpec, filename); OFF(GoCoroSpec, firstlineno); OFF(GoCoroSpec, reserved0);
    OFF(GoCoroSpec, state_size); OFF(GoCoroSpec, step); OFF(GoCoroSpec, traverse);
    OFF(GoCoroSpec, clear); OFF(GoCoroSpec, finalize);
    SIZE(GoCoroAPI);
    OFF(GoCoroAPI, abi_version); OFF(GoCoroAPI, struct_size); OFF(GoCoroAPI, Prepare);
    OFF(GoCoroAPI, New); OFF(GoCoroAPI, GetState); OFF(GoCoroAPI, RaisePanic);
    OFF(GoCoroAPI, Rethrow); OFF(GoCoroAPI, Check); OFF(GoCoroAPI, coroutine_type);
    OFF(GoCoroAPI, panic_exception); OFF(GoCoroAPI, WakerNew); OFF(GoCoroAPI, WakerWait);
    OFF(GoCoroAPI, Wake); OFF(GoCoroAPI, WakerRetain); OFF(GoCoroAPI, WakerRelease);
    OFF(GoCoroAPI, RunBlocking);
    printf("const GOCORO_ABI_VERSION %u\n", GOCORO_ABI_VERSION);
    printf("const GOCORO_ERROR %d\nconst GOCORO_RETURN %d\nconst GOCORO_NEXT %d\n",
           GOCORO_ERROR, GOCORO_RETURN, GOCORO_NEXT);
    printf("const GOCORO_AWAIT %d\nconst GOCORO_ITEM %d\n", GOCORO_AWAIT, GOCORO_ITEM);
    printf("const GOCORO_KIND_COROUTINE %u\nconst GOCORO_KIND_GENERATOR %u\n",
           GOCORO_KIND_COROUTINE, GOCORO_KIND_GENERATOR);
    printf("const GOCORO_KIND_ITERATOR %u\nconst GOCORO_KIND_ASYNC_GENERATOR %u\n",
           GOCORO_KIND_ITERATOR, GOCORO_KIND_ASYNC_GENERATOR);
    printf("const GOCORO_KIND_ASYNC_ITERATOR %u\n", GOCORO_KIND_ASYNC_ITERATOR);
    printf("capsule %s\n", GOCORO_CAPSULE_NAME);
    return 0;
}
