# appliance/tls.mk - Mbed TLS for the guest and the host, the TLS engine,
# keyd, their guest test programs and host unit tests; included by the
# top-level Makefile (-include appliance/*.mk).
#
# Three kinds of C here:
#   mbedTLS's library    third-party, never edited: built twice from
#                        build/third_party/mbedtls with our configuration
#                        (appliance/tls/mbedtls_config.h), without -Werror,
#                          guest: USER_CFLAGS code generation, our libc shim
#                                 headers (appliance/tls/libc/) first, one
#                                 section per function -> $(MBEDTLS_A)
#                          host:  the host compiler and libc, -O2, no
#                                 sanitizers -> $(HOST_MBEDTLS_A), for the
#                                 host unit tests only
#   our TLS code         appliance/tls/*.c, appliance/keyd/*.c: strict
#                        USER_CFLAGS (-Werror), mbedTLS headers as system
#                        headers
#   programs             tlsselftest (tests/tls), keyd, keydtest (tests/tls):
#                        linked like user_prog (Makefile) but with the
#                        mbedTLS archive between our objects and libkeel.a,
#                        and --gc-sections so self-tests and unused
#                        functions stay out of the servers
# mbedTLS's sources exist only after tools/fetch-deps.sh (`make deps`),
# which writes $(MBEDTLS_STAMP) last; everything that needs them depends
# on the stamp.
#
# Manifest lines (image/manifest) for these programs:
#   server tlsselftest when tlsselftest memory 8M debug
#       (optionally `args NAME connect NAME`, NAME a virtio-rng server's
#       endpoint, to test that source too)
#   server keyd priority 12 memory 1M args client=tlsd,signal=sock-tlsd site endpoint keyd share keyd 4 signal sock-tlsd connect rng
#       (keyd above tlsd's priority: appliance/tlsd/tlsd.c says why)
# keydtest runs from tests/tls/test_tls_guest.py, which writes its own
# manifest lines.

MBEDTLS_DIR   := build/third_party/mbedtls
MBEDTLS_STAMP := build/third_party/.stamp-mbedtls
TLS_CONFIG    := appliance/tls/mbedtls_config.h
# <...>, not "...": mbedTLS 3's own default configuration is also called
# mbedtls_config.h, beside build_info.h that includes it, and a quoted name
# would find that one first.  With <...> only the -I path is searched, and
# appliance/tls comes before mbedTLS's include directory everywhere below.
TLS_CPPFLAGS  := -DMBEDTLS_CONFIG_FILE='<mbedtls_config.h>' -Iappliance/tls
# X25519 from Project Everest (HACL*, verified, constant time): shipped in
# mbedTLS's tarball as 3rdparty/everest and used by ecdh.c (so by PSA's key
# agreement) when mbedtls_config.h sets MBEDTLS_ECDH_VARIANT_EVEREST_ENABLED.
# mbedtls/ecdh.h then includes everest/everest.h: every user of mbedTLS's
# headers needs EVEREST_INC.
EVEREST_DIR   := $(MBEDTLS_DIR)/3rdparty/everest
EVEREST_INC   := -isystem $(EVEREST_DIR)/include
EVEREST_SRCS  := $(addprefix $(EVEREST_DIR)/library/, everest.c x25519.c Hacl_Curve25519_joined.c)
EVEREST_PRIV_INC := -isystem $(EVEREST_DIR)/include/everest -isystem $(EVEREST_DIR)/include/everest/kremlib

# Exactly the modules mbedtls_config.h turns on.
MBEDTLS_SRCS := $(addprefix $(MBEDTLS_DIR)/library/, \
	aes.c aesni.c asn1parse.c asn1write.c base64.c bignum.c bignum_core.c block_cipher.c chacha20.c \
	chachapoly.c cipher.c cipher_wrap.c constant_time.c ctr_drbg.c ecdh.c ecdsa.c ecp.c ecp_curves.c \
	entropy.c entropy_poll.c error.c gcm.c hkdf.c hmac_drbg.c md.c oid.c pem.c pk.c pk_ecc.c pk_wrap.c \
	pkparse.c pkwrite.c platform.c platform_util.c poly1305.c \
	psa_crypto.c psa_crypto_aead.c psa_crypto_cipher.c psa_crypto_client.c \
	psa_crypto_driver_wrappers_no_static.c psa_crypto_ecp.c psa_crypto_hash.c psa_crypto_mac.c \
	psa_crypto_rsa.c psa_crypto_se.c psa_crypto_slot_management.c psa_crypto_storage.c psa_util.c \
	rsa.c rsa_alt_helpers.c sha1.c sha256.c sha512.c \
	ssl_ciphersuites.c ssl_client.c ssl_msg.c ssl_tls.c ssl_tls12_client.c ssl_tls12_server.c \
	ssl_tls13_client.c ssl_tls13_generic.c ssl_tls13_keys.c ssl_tls13_server.c threading.c x509.c x509_crt.c)

# ------------------------------------------------------------- guest ----
MBEDTLS_OBJS := $(MBEDTLS_SRCS:$(MBEDTLS_DIR)/library/%.c=$(BUILD)/user/mbedtls/%.o) \
	$(EVEREST_SRCS:$(EVEREST_DIR)/library/%.c=$(BUILD)/user/mbedtls/everest/%.o)
MBEDTLS_A    := $(BUILD)/user/mbedtls/libmbedtls.a
TLS_GUEST_INC := -Iappliance/tls/libc $(TLS_CPPFLAGS) -DKEEL_TLS_THREADS -isystem $(MBEDTLS_DIR)/include \
	-isystem $(MBEDTLS_DIR)/library $(EVEREST_INC)

USER_CFLAGS_MBEDTLS := $(filter-out -std=gnu2x -Werror -Wextra -Wmissing-prototypes -Wstrict-prototypes -Wshadow,$(USER_CFLAGS)) -std=gnu11 \
	-ffunction-sections -fdata-sections $(TLS_GUEST_INC)

$(MBEDTLS_STAMP):
	tools/fetch-deps.sh

$(MBEDTLS_SRCS) $(EVEREST_SRCS): | $(MBEDTLS_STAMP) ;

$(BUILD)/user/mbedtls/%.o: $(MBEDTLS_DIR)/library/%.c $(MBEDTLS_STAMP) $(TLS_CONFIG) appliance/tls.mk
	@mkdir -p $(dir $@)
	$(CC) $(USER_CFLAGS_MBEDTLS) -c $< -o $@

$(BUILD)/user/mbedtls/everest/%.o: $(EVEREST_DIR)/library/%.c $(MBEDTLS_STAMP) $(TLS_CONFIG) appliance/tls.mk
	@mkdir -p $(dir $@)
	$(CC) $(USER_CFLAGS_MBEDTLS) $(EVEREST_PRIV_INC) -c $< -o $@

$(MBEDTLS_A): $(MBEDTLS_OBJS)
	rm -f $@
	ar rcs $@ $^

# -------------------------------------------------------------- host ----
HOST_MBEDTLS_OBJS := $(MBEDTLS_SRCS:$(MBEDTLS_DIR)/library/%.c=$(BUILD)/host-mbedtls/%.o) \
	$(EVEREST_SRCS:$(EVEREST_DIR)/library/%.c=$(BUILD)/host-mbedtls/everest/%.o)
HOST_MBEDTLS_A    := $(BUILD)/host-mbedtls/libmbedtls.a
HOST_MBEDTLS_CFLAGS := -std=gnu11 -O2 -g -MMD -MP $(TLS_CPPFLAGS) -I$(MBEDTLS_DIR)/include $(EVEREST_INC)

$(BUILD)/host-mbedtls/%.o: $(MBEDTLS_DIR)/library/%.c $(MBEDTLS_STAMP) $(TLS_CONFIG) appliance/tls.mk
	@mkdir -p $(dir $@)
	$(CC) $(HOST_MBEDTLS_CFLAGS) -c $< -o $@

$(BUILD)/host-mbedtls/everest/%.o: $(EVEREST_DIR)/library/%.c $(MBEDTLS_STAMP) $(TLS_CONFIG) appliance/tls.mk
	@mkdir -p $(dir $@)
	$(CC) $(HOST_MBEDTLS_CFLAGS) -I$(MBEDTLS_DIR)/library $(EVEREST_PRIV_INC) -c $< -o $@

$(HOST_MBEDTLS_A): $(HOST_MBEDTLS_OBJS)
	rm -f $@
	ar rcs $@ $^

-include $(MBEDTLS_OBJS:.o=.d) $(HOST_MBEDTLS_OBJS:.o=.d)

# ------------------------------------------------ our code, programs ----
# The TLS library of ours every program with mbedTLS links (guest).
TLS_CORE_SRCS := appliance/tls/tls_mem.c appliance/tls/plat_keel.c appliance/tls/libc_extra.c appliance/tls/tls_psa.c \
	appliance/tls/entropy.c appliance/tls/tls_thread.c appliance/tls/tls_gcm.c
TLS_CORE_OBJS := $(TLS_CORE_SRCS:%.c=$(BUILD)/user/%.o)

# The engine (tlsd's core) and keyd's client library.
TLS_ENGINE_GUEST_SRCS := appliance/tls/tls_conn.c appliance/tls/tls_sni.c appliance/tls/tls_ticket.c \
	appliance/tls/tls_pk.c
TLS_ENGINE_GUEST_OBJS := $(TLS_ENGINE_GUEST_SRCS:%.c=$(BUILD)/user/%.o)

KEYD_SRCS := appliance/keyd/keyd.c appliance/keyd/keyd_req.c
KEYD_OBJS := $(KEYD_SRCS:%.c=$(BUILD)/user/%.o) $(BUILD)/user/appliance/tls/tls_pk.o
KEYD_CLIENT_OBJS := $(BUILD)/user/lib/keyd_client.o

TLSSELFTEST_OBJS := $(BUILD)/user/tests/tls/tlsselftest.o
KEYDTEST_OBJS := $(BUILD)/user/tests/tls/keydtest.o $(KEYD_CLIENT_OBJS) $(TLS_ENGINE_GUEST_OBJS)

TLS_ALL_OBJS := $(sort $(TLS_CORE_OBJS) $(TLS_ENGINE_GUEST_OBJS) $(KEYD_OBJS) $(KEYD_CLIENT_OBJS) \
	$(TLSSELFTEST_OBJS) $(KEYDTEST_OBJS))
$(TLS_ALL_OBJS): USER_CFLAGS += -ffunction-sections -fdata-sections $(TLS_GUEST_INC)
# Not order-only: Mbed TLS's headers are system headers here (untracked by
# -MMD), and its structs are laid out in our objects, so a new version
# (new stamp) or configuration rebuilds them.
$(TLS_ALL_OBJS): $(MBEDTLS_STAMP) $(TLS_CONFIG)

# tls_link NAME, OBJS: build/user/NAME.elf with mbedTLS (link_user, Makefile),
# unused sections dropped (mbedTLS is large and we use part of it).
define tls_link
$(call link_user,$(1),$(2),$(MBEDTLS_A),--gc-sections)
endef

$(eval $(call tls_link,tlsselftest,$(TLSSELFTEST_OBJS) $(TLS_CORE_OBJS)))
$(eval $(call tls_link,keyd,$(KEYD_OBJS) $(TLS_CORE_OBJS)))
$(eval $(call tls_link,keydtest,$(KEYDTEST_OBJS) $(TLS_CORE_OBJS)))
SERVERS += tlsselftest keyd keydtest
USER_OBJS += $(TLS_ALL_OBJS)

# ------------------------------------------------------- host tests ----
# The generic unit recipe (Makefile) compiles $(filter %.c,$^) with
# UNIT_CFLAGS, sources last; the host mbedTLS archive is therefore handed
# over in UNIT_CFLAGS as a whole archive (its position before the sources
# does not matter then).  Our TLS sources are compiled into the test with
# the sanitizers; mbedTLS itself is not (third-party, -O2, realistic times).
TLS_UNIT_CFLAGS := $(TLS_CPPFLAGS) -isystem $(MBEDTLS_DIR)/include -isystem $(MBEDTLS_DIR)/library $(EVEREST_INC) -Ilib/include
TLS_HOST_LINK   := -Wl,--whole-archive $(HOST_MBEDTLS_A) -Wl,--no-whole-archive
TLS_ENGINE_SRCS := appliance/tls/tls_conn.c appliance/tls/tls_sni.c appliance/tls/tls_ticket.c appliance/tls/tls_psa.c \
	appliance/tls/tls_pk.c appliance/tls/tls_mem.c appliance/tls/tls_gcm.c lib/heap.c
TLS_ENGINE_HDRS := appliance/tls/tls_conn.h appliance/tls/tls_sni.h appliance/tls/tls_ticket.h appliance/tls/tls_psa.h \
	appliance/tls/tls_pk.h appliance/tls/tls_mem.h $(TLS_CONFIG)

TLS_UNIT_TESTS := tls_sni tls_conn tls_keyd tls_crypto tls_gcm
$(BUILD)/tests/unit/test_tls_keyd: tests/unit/test_tls_keyd.c appliance/keyd/keyd_req.c appliance/keyd/keyd_req.h \
	abi/keel/keyd.h
$(BUILD)/tests/unit/test_tls_keyd: UNIT_CFLAGS += -Iappliance/keyd
$(BUILD)/tests/unit/test_tls_sni: tests/unit/test_tls_sni.c appliance/tls/tls_sni.c appliance/tls/tls_sni.h
$(BUILD)/tests/unit/test_tls_sni: UNIT_CFLAGS += -Iappliance/tls
$(BUILD)/tests/unit/test_tls_conn: tests/unit/test_tls_conn.c tests/unit/tls_host_plat.c $(TLS_ENGINE_SRCS) $(TLS_ENGINE_HDRS) $(HOST_MBEDTLS_A)
$(BUILD)/tests/unit/test_tls_conn: UNIT_CFLAGS += $(TLS_UNIT_CFLAGS) $(TLS_HOST_LINK)
# Known answers for the public-key code with our configuration (Everest X25519, P-256, RSA).
$(BUILD)/tests/unit/test_tls_crypto: tests/unit/test_tls_crypto.c tests/unit/tls_host_plat.c appliance/tls/tls_gcm.c \
	$(TLS_CONFIG) $(HOST_MBEDTLS_A)
$(BUILD)/tests/unit/test_tls_crypto: UNIT_CFLAGS += $(TLS_UNIT_CFLAGS) $(TLS_HOST_LINK)
# Known answers for our AES-GCM (tls_gcm.c, both its paths), and gcm.c's
# own self-test against it.  Our GCM is not in the host archive (gcm.c
# there is its self-test only, MBEDTLS_GCM_ALT): every host test that links
# mbedTLS compiles appliance/tls/tls_gcm.c among its sources.
$(BUILD)/tests/unit/test_tls_gcm: tests/unit/test_tls_gcm.c appliance/tls/tls_gcm.c tests/unit/tls_host_plat.c \
	appliance/tls/gcm_alt.h $(TLS_CONFIG) $(HOST_MBEDTLS_A)
$(BUILD)/tests/unit/test_tls_gcm: UNIT_CFLAGS += $(TLS_UNIT_CFLAGS) $(TLS_HOST_LINK)
UNIT_TESTS += $(TLS_UNIT_TESTS)
PACKAGES += openssl testssl.sh # testssl.sh: tests/qemu/test_run.py

# `make clean` removes build/user (the guest archive); the host archive too.
.PHONY: clean-tls
clean: clean-tls
clean-tls:
	rm -rf $(BUILD)/host-mbedtls
