package coro

// The waker half (waker.c) hands GoCoro_RunBlocking to the executor package; linking it here
// puts the executor into every binary that has the coroutine type.
import _ "github.com/gocoro/gocoro/executor"
