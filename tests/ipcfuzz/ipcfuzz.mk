# tests/ipcfuzz/ipcfuzz.mk - the IPC protocol fuzzer (tests/ipcfuzz/ipcfuzz.c):
# one program, a hostile or an honest client of each server protocol,
# booted by tests/qemu/test_ipcfuzz.py.
$(eval $(call user_prog,ipcfuzz,tests/ipcfuzz/ipcfuzz.c))
SERVERS += ipcfuzz
