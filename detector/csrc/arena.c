/* keep_stack_chunks() -> None: CPython's object-arena allocator, except that a few freed
   16 KB blocks are kept for the next request instead of unmapped (detector/pipeline.py
   installs it when the pipeline is imported; no twin: it changes no result, only where
   the interpreter's memory comes from).

   Why: CPython 3.11 keeps its frames on a data stack made of 16 KB chunks, which come from
   this allocator (mmap) and go back to it (munmap) as soon as the call depth falls below
   a chunk's first frame. Importing the CLI's modules (importlib's deep frames, numpy's and
   typer's imports) crosses such an edge over and over: 1,222 mmap/munmap pairs of 16 KB
   in every scan's start-up (strace, a tiny capture and the real-traffic bench input
   alike), each with page faults on fresh zeroed pages. With the blocks kept: 2 such maps,
   ~1,200 fewer page faults, and a tiny scan's wall 150.7 -> 139.7 ms (median of 15
   alternated runs, perf stat, one core). Anything but a 16 KB block - pymalloc's 1 MB arenas, larger
   stack chunks - is mapped and unmapped as by CPython's own allocator, and a block from
   either allocator may be freed by the other (both are anonymous private mappings of
   exactly the size asked). The kept blocks are touched only by a thread that holds the
   GIL (PyGILState_Check), which serialises them; any other call maps and unmaps as
   CPython's own allocator does. */

#include "fast.h"

#include <sys/mman.h>

enum { STACK_CHUNK = 16384, KEPT_CHUNKS = 8 }; /* at most 128 KB kept */
static void *kept[KEPT_CHUNKS];
static int n_kept;

static void *arena_alloc(void *ctx, size_t size) {
    (void)ctx;
    if (size == STACK_CHUNK && n_kept > 0 && PyGILState_Check())
        return kept[--n_kept];
    void *block = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return block == MAP_FAILED ? NULL : block;
}

static void arena_free(void *ctx, void *block, size_t size) {
    (void)ctx;
    if (size == STACK_CHUNK && n_kept < KEPT_CHUNKS && PyGILState_Check()) {
        kept[n_kept++] = block;
        return;
    }
    munmap(block, size);
}

PyObject *keep_stack_chunks(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    PyObjectArenaAllocator current;
    PyObject_GetArenaAllocator(&current);
    if (current.alloc != arena_alloc) { /* once per process */
        PyObjectArenaAllocator keeping = {NULL, arena_alloc, arena_free};
        PyObject_SetArenaAllocator(&keeping);
    }
    Py_RETURN_NONE;
}
