;; A test actor. init listens on 127.0.0.1:0 and logs the bound address (runtime.log);
;; connections are activated in active mode and echoed, except a chunk that starts with
;;   '!'  traps (unreachable),
;;   '?'  makes on-data return err("refused"),
;;   '@'  loops forever (the host's time budget must stop it),
;;   '#'  grows its memory by 128 MiB and traps if the host refuses (as an allocator aborts).
;; Same memory layout and allocator as actors/echo.wat.
(module
  (import "theater:simple/tcp" "listen" (func $listen (param i32 i32 i32)))
  (import "theater:simple/tcp" "activate" (func $activate (param i32 i32 i32)))
  (import "theater:simple/tcp" "set-active" (func $set_active (param i32 i32 i32 i32 i32)))
  (import "theater:simple/tcp" "send" (func $send (param i32 i32 i32 i32 i32)))
  (import "theater:simple/tcp-ext" "local-address" (func $local_address (param i32 i32 i32)))
  (import "theater:simple/runtime" "log" (func $log (param i32 i32)))

  (memory (export "memory") 1)
  (data (i32.const 32) "active")
  (data (i32.const 48) "127.0.0.1:0")
  (data (i32.const 64) "refused")
  (global $heap (mut i32) (i32.const 1024))

  (func $cabi_realloc (export "cabi_realloc")
    (param $old i32) (param $old_size i32) (param $align i32) (param $new_size i32)
    (result i32)
    (local $ptr i32) (local $end i32) (local $have i32)
    (local.set $ptr
      (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
    (local.set $end (i32.add (local.get $ptr) (local.get $new_size)))
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
    (if (local.get $old)
      (then
        (memory.copy (local.get $ptr) (local.get $old)
          (select (local.get $old_size) (local.get $new_size)
            (i32.lt_u (local.get $old_size) (local.get $new_size))))))
    (global.set $heap (local.get $end))
    (local.get $ptr))

  (func $ok (param $some i32) (param $ptr i32) (param $len i32) (result i32)
    (i32.store8 (i32.const 16) (i32.const 0))
    (i32.store8 (i32.const 20) (local.get $some))
    (i32.store (i32.const 24) (local.get $ptr))
    (i32.store (i32.const 28) (local.get $len))
    (global.set $heap (i32.const 1024))
    (i32.const 16))

  (func $err (param $ptr i32) (param $len i32) (result i32)
    (i32.store8 (i32.const 16) (i32.const 1))
    (i32.store (i32.const 20) (local.get $ptr))
    (i32.store (i32.const 24) (local.get $len))
    (global.set $heap (i32.const 1024))
    (i32.const 16))

  (func (export "theater:simple/actor#init")
    (param $some i32) (param $ptr i32) (param $len i32) (param $id i32) (param $id_len i32)
    (result i32)
    (local $lid i32) (local $lid_len i32)
    (call $listen (i32.const 48) (i32.const 11) (i32.const 0))
    (if (i32.load8_u (i32.const 0))
      (then (return (call $err (i32.load (i32.const 4)) (i32.load (i32.const 8))))))
    (local.set $lid (i32.load (i32.const 4)))
    (local.set $lid_len (i32.load (i32.const 8)))
    (call $local_address (local.get $lid) (local.get $lid_len) (i32.const 0))
    (if (i32.load8_u (i32.const 0))
      (then (return (call $err (i32.load (i32.const 4)) (i32.load (i32.const 8))))))
    (call $log (i32.load (i32.const 4)) (i32.load (i32.const 8)))
    (call $ok (i32.const 0) (i32.const 0) (i32.const 0)))

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

  (func (export "theater:simple/tcp-client#on-data")
    (param $some i32) (param $ptr i32) (param $len i32)
    (param $conn i32) (param $conn_len i32) (param $data i32) (param $data_len i32)
    (result i32)
    (local $first i32)
    (if (local.get $data_len)
      (then
        (local.set $first (i32.load8_u (local.get $data)))
        (if (i32.eq (local.get $first) (i32.const 33)) ;; '!'
          (then unreachable))
        (if (i32.eq (local.get $first) (i32.const 63)) ;; '?'
          (then (return (call $err (i32.const 64) (i32.const 7)))))
        (if (i32.eq (local.get $first) (i32.const 64)) ;; '@'
          (then (loop $forever (br $forever))))
        (if (i32.eq (local.get $first) (i32.const 35)) ;; '#': 2048 pages of 64 KiB
          (then
            (if (i32.eq (memory.grow (i32.const 2048)) (i32.const -1))
              (then unreachable))))))
    (call $send (local.get $conn) (local.get $conn_len) (local.get $data) (local.get $data_len)
      (i32.const 0))
    (if (i32.load8_u (i32.const 0))
      (then (return (call $err (i32.load (i32.const 8)) (i32.load (i32.const 12))))))
    (call $ok (local.get $some) (local.get $ptr) (local.get $len)))
)
