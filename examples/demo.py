"""gocoro demo: native async functions from a C extension (examples/demo_native.c) under asyncio,
and the very same objects under trio when it is installed."""
import asyncio

import demo_native
import gocoro


async def main_asyncio():
    coro = demo_native.countdown(3, asyncio.sleep)
    print("created:", coro, "| type:", type(coro).__module__ + "." + type(coro).__qualname__)
    print("asyncio.iscoroutine:", asyncio.iscoroutine(coro))
    print("countdown ->", await coro)

    async def value(v):
        await asyncio.sleep(0)
        return v

    total = await demo_native.gather_sum([value(1), value(2), asyncio.sleep(0, result=39)])
    print("gather_sum ->", total)
    results = await asyncio.gather(*(demo_native.countdown(i, asyncio.sleep) for i in range(5)))
    print("asyncio.gather of 5 countdowns ->", results)
    task = asyncio.create_task(demo_native.countdown(10**9, asyncio.sleep))
    await asyncio.sleep(0.01)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        print("task.cancel() reached the native step: CancelledError")


def main_trio():
    try:
        import trio
    except ImportError:
        print("(trio not installed: skipping the trio part)")
        return

    async def main():
        print("trio: countdown ->", await demo_native.countdown(3, trio.sleep))

    trio.run(main)


if __name__ == "__main__":
    print("gocoro", gocoro.__version__, "ABI", gocoro.ABI_VERSION, "| Go runtime:", gocoro.runtime_info()["go_version"])
    asyncio.run(main_asyncio())
    main_trio()
