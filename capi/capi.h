/* capi/capi.h: declarations shared by the capi Go files (cgo preamble) and capi/module.c. */
#ifndef GOCORO_CAPI_H
#define GOCORO_CAPI_H
typedef struct {
    char go_version[64];
    int gomaxprocs;
    int num_cpu;
    int num_goroutine;
    long long interpreters;
} gocoro_runtime_info;
#endif
