#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "vmm/insn_fixup.h"

static void expect(const uint8_t *b, size_t n, enum insn_fixup_kind kind, unsigned len)
{
	struct insn_fixup f = insn_fixup_decode(b, n);
	ck_assert_msg(f.kind == kind, "bytes %02x.. (n=%zu): kind %s, want %s", n ? b[0] : 0, n,
		      insn_fixup_name(f.kind), insn_fixup_name(kind));
	ck_assert_uint_eq(f.len, len);
}

#define EXPECT(kind, len, ...)                                                                     \
	do {                                                                                       \
		const uint8_t b_[] = {__VA_ARGS__};                                                \
		expect(b_, sizeof(b_), (kind), (len));                                             \
	} while (0)

START_TEST(test_int3)
{
	EXPECT(FIXUP_INT3, 1, 0xCC);
	EXPECT(FIXUP_INT3, 1, 0xCC, 0x90, 0x90); /* trailing bytes are the next insn */
	EXPECT(FIXUP_INT3, 2, 0xCD, 0x03);
	EXPECT(FIXUP_NONE, 0, 0xCD, 0x04); /* INT 4 is not a breakpoint */
	EXPECT(FIXUP_NONE, 0, 0xCD, 0x80);
	EXPECT(FIXUP_NONE, 0, 0xCD); /* truncated INT imm8 */
}
END_TEST

START_TEST(test_x87)
{
	EXPECT(FIXUP_FWAIT, 1, 0x9B);
	/* FCLEX is FWAIT then FNCLEX: the first exit handles the FWAIT only. */
	EXPECT(FIXUP_FWAIT, 1, 0x9B, 0xDB, 0xE2);
	EXPECT(FIXUP_FNCLEX, 2, 0xDB, 0xE2);
	EXPECT(FIXUP_NONE, 0, 0xDB, 0xE3); /* FNINIT */
	EXPECT(FIXUP_NONE, 0, 0xDB, 0xE1);
	EXPECT(FIXUP_NONE, 0, 0xDB);
}
END_TEST

START_TEST(test_smap)
{
	EXPECT(FIXUP_CLAC, 3, 0x0F, 0x01, 0xCA);
	EXPECT(FIXUP_STAC, 3, 0x0F, 0x01, 0xCB);
	EXPECT(FIXUP_STAC, 3, 0x0F, 0x01, 0xCB, 0xCC);
	EXPECT(FIXUP_NONE, 0, 0x0F, 0x01, 0xC9); /* MWAIT */
	EXPECT(FIXUP_NONE, 0, 0x0F, 0x01, 0xCC);
	EXPECT(FIXUP_NONE, 0, 0x0F, 0x01); /* truncated */
	EXPECT(FIXUP_NONE, 0, 0x0F);
	EXPECT(FIXUP_NONE, 0, 0x0F, 0x02, 0xCA);
}
END_TEST

START_TEST(test_none)
{
	ck_assert_int_eq(insn_fixup_decode(NULL, 0).kind, FIXUP_NONE);
	ck_assert_uint_eq(insn_fixup_decode(NULL, 0).len, 0);
	EXPECT(FIXUP_NONE, 0, 0x90);
	EXPECT(FIXUP_NONE, 0, 0xF4);	   /* HLT */
	EXPECT(FIXUP_NONE, 0, 0x66, 0xCC); /* prefixed: not handled */
	/* Only the first n bytes count, even if more are readable. */
	const uint8_t clac[3] = {0x0F, 0x01, 0xCA};
	expect(clac, 2, FIXUP_NONE, 0);
	const uint8_t int3[2] = {0xCD, 0x03};
	expect(int3, 1, FIXUP_NONE, 0);
	expect(int3, 0, FIXUP_NONE, 0);
}
END_TEST

START_TEST(test_names)
{
	ck_assert_str_eq(insn_fixup_name(FIXUP_NONE), "none");
	ck_assert_str_eq(insn_fixup_name(FIXUP_INT3), "int3");
	ck_assert_str_eq(insn_fixup_name(FIXUP_FWAIT), "fwait");
	ck_assert_str_eq(insn_fixup_name(FIXUP_FNCLEX), "fnclex");
	ck_assert_str_eq(insn_fixup_name(FIXUP_CLAC), "clac");
	ck_assert_str_eq(insn_fixup_name(FIXUP_STAC), "stac");
	ck_assert_str_eq(insn_fixup_name(FIXUP_KINDS), "?");
	ck_assert_str_eq(insn_fixup_name((enum insn_fixup_kind)1000), "?");
	/* Every kind has a distinct name (they label --stats lines). */
	for (int i = 0; i < FIXUP_KINDS; i++)
		for (int j = i + 1; j < FIXUP_KINDS; j++)
			ck_assert_str_ne(insn_fixup_name((enum insn_fixup_kind)i),
					 insn_fixup_name((enum insn_fixup_kind)j));
}
END_TEST

START_TEST(test_every_single_byte)
{
	/* Only CC and 9B decode from one byte; nothing reads past n. */
	for (unsigned v = 0; v < 256; v++) {
		uint8_t *b = malloc(1);
		b[0] = (uint8_t)v;
		struct insn_fixup f = insn_fixup_decode(b, 1);
		free(b);
		if (v == 0xCC)
			ck_assert_int_eq(f.kind, FIXUP_INT3);
		else if (v == 0x9B)
			ck_assert_int_eq(f.kind, FIXUP_FWAIT);
		else
			ck_assert_int_eq(f.kind, FIXUP_NONE);
		ck_assert_uint_eq(f.len, f.kind == FIXUP_NONE ? 0 : 1);
	}
}
END_TEST

CHECK_MAIN("insn_fixup", test_int3, test_x87, test_smap, test_none, test_names,
	   test_every_single_byte)
