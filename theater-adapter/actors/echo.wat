;; The built-in echo actor, written by hand against the component model's canonical ABI
;; (the host turns it into a component with the world in echo.wit).
;;
;; Every accepted connection is activated in "active" mode; every chunk that arrives through
;; on-data is sent straight back from the same memory (no copy inside the actor). The actor's
;; state is always none and is passed through unchanged.
;;
;; Memory layout:
;;   0..16     return area of imported calls (result<_, string> and result<u64, string>)
;;   16..32    return area of exported callbacks (result<tuple<option<list<u8>>>, string>)
;;   32..38    the string "active"
;;   1024..    bump heap for cabi_realloc, reset when a callback returns
(module
  ;; Lowered imports: (string args as ptr, len ..., return-area pointer).
  (import "theater:simple/tcp" "activate" (func $activate (param i32 i32 i32)))
  (import "theater:simple/tcp" "set-active" (func $set_active (param i32 i32 i32 i32 i32)))
  (import "theater:simple/tcp" "send" (func $send (param i32 i32 i32 i32 i32)))

  (memory (export "memory") 1)
  (data (i32.const 32) "active")

  (global $heap_base i32 (i32.const 1024))
  (global $heap (mut i32) (i32.const 1024))

  ;; Bump allocator. The host calls it to place arguments (connection ids, data) and the error
  ;; strings of imported calls. Nothing is freed one by one: every callback resets the heap
  ;; as it returns, after which the host reads the result before making any other call.
  (func $cabi_realloc (export "cabi_realloc")
    (param $old i32) (param $old_size i32) (param $align i32) (param $new_size i32)
    (result i32)
    (local $ptr i32)
    (local $end i32)
    (local $have i32)
    ;; ptr = align_up(heap, align)
    (local.set $ptr
      (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
    (local.set $end (i32.add (local.get $ptr) (local.get $new_size)))
    ;; Grow the memory when the block does not fit; a refused grow is a trap.
    (local.set $have (i32.shl (memory.size) (i32.const 16)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq
              (memory.grow
                (i32.shr_u
                  (i32.add (i32.sub (local.get $end) (local.get $have)) (i32.const 65535))
                  (i32.const 16)))
              (i32.const -1))
          (then unreachable))))
    ;; A reallocation keeps the old contents.
    (if (local.get $old)
      (then
        (memory.copy (local.get $ptr) (local.get $old)
          (select (local.get $old_size) (local.get $new_size)
            (i32.lt_u (local.get $old_size) (local.get $new_size))))))
    (global.set $heap (local.get $end))
    (local.get $ptr))

  ;; Returns ok((state,)) from a callback and resets the heap.
  (func $ok (param $some i32) (param $ptr i32) (param $len i32) (result i32)
    (i32.store8 (i32.const 16) (i32.const 0))
    (i32.store8 (i32.const 20) (local.get $some))
    (i32.store (i32.const 24) (local.get $ptr))
    (i32.store (i32.const 28) (local.get $len))
    (global.set $heap (global.get $heap_base))
    (i32.const 16))

  ;; Returns err(message) from a callback and resets the heap.
  (func $err (param $ptr i32) (param $len i32) (result i32)
    (i32.store8 (i32.const 16) (i32.const 1))
    (i32.store (i32.const 20) (local.get $ptr))
    (i32.store (i32.const 24) (local.get $len))
    (global.set $heap (global.get $heap_base))
    (i32.const 16))

  ;; init(state, (actor-id,)): nothing to set up.
  (func (export "theater:simple/actor#init")
    (param $some i32) (param $ptr i32) (param $len i32) (param $id i32) (param $id_len i32)
    (result i32)
    (call $ok (i32.const 0) (i32.const 0) (i32.const 0)))

  ;; handle-connection(state, (connection-id,)): activate, then switch to active mode.
  (func (export "theater:simple/tcp-client#handle-connection")
    (param $some i32) (param $ptr i32) (param $len i32) (param $conn i32) (param $conn_len i32)
    (result i32)
    (call $activate (local.get $conn) (local.get $conn_len) (i32.const 0))
    (if (i32.load8_u (i32.const 0))
      (then (return (call $err (i32.load (i32.const 4)) (i32.load (i32.const 8))))))
    (call $set_active (local.get $conn) (local.get $conn_len) (i32.const 32) (i32.const 6)
      (i32.const 0))
    (if (i32.load8_u (i32.const 0))
      (then (return (call $err (i32.load (i32.const 4)) (i32.load (i32.const 8))))))
    (call $ok (local.get $some) (local.get $ptr) (local.get $len)))

  ;; on-data(state, (connection-id, bytes)): send the bytes back. A failed send fails the
  ;; callback, and the host then closes the connection.
  (func (export "theater:simple/tcp-client#on-data")
    (param $some i32) (param $ptr i32) (param $len i32)
    (param $conn i32) (param $conn_len i32) (param $data i32) (param $data_len i32)
    (result i32)
    (call $send (local.get $conn) (local.get $conn_len) (local.get $data) (local.get $data_len)
      (i32.const 0))
    ;; result<u64, string>: the payload sits at offset 8 (u64 alignment).
    (if (i32.load8_u (i32.const 0))
      (then (return (call $err (i32.load (i32.const 8)) (i32.load (i32.const 12))))))
    (call $ok (local.get $some) (local.get $ptr) (local.get $len)))

  ;; on-close(state, (connection-id, reason)): nothing to clean up; the state goes back as is.
  (func (export "theater:simple/tcp-client#on-close")
    (param $some i32) (param $ptr i32) (param $len i32)
    (param $conn i32) (param $conn_len i32) (param $reason i32) (param $reason_len i32)
    (result i32)
    (call $ok (local.get $some) (local.get $ptr) (local.get $len)))
)
