# socktest: the socket service's guest test client (tests/net/socktest.c),
# booted by tests/qemu/test_netd.py.
$(eval $(call user_prog,socktest,tests/net/socktest.c))
SERVERS += socktest
