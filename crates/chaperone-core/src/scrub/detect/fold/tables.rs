//! The tables behind folding, generated from the Unicode Character Database
//! (Unicode 18.0, through Python's `unicodedata2` 18.0.0) by the program
//! below; regenerate them, do not edit them by hand.
//!
//! - `ND_ZEROS`: the zero of every run of decimal digits (general category
//!   Nd) outside ASCII. Nd digits always come in runs of ten, zero to nine,
//!   so `c - zero` is the digit's value. These are the digits Python's
//!   `int()`, Java's `Character.digit` and .NET's `char.IsDigit` read.
//! - `FOLDS`: every other character that folds, as sorted ranges
//!   `(first, last, to, ascending)`: the range's characters become the
//!   ASCII byte `to` (plus their offset in the range when `ascending`), or
//!   are removed when `to` is 0. In order of precedence: C1 controls
//!   (removed; NEL is a line break and becomes a space), default-ignorable
//!   and format characters (removed), combining marks of the blocks that
//!   sit on Latin letters, digits and symbols (removed: accents, keycaps),
//!   other characters with a digit value (superscripts, circled digits),
//!   dashes (Pd, and U+2212 MINUS SIGN) to '-', spaces (Zs, Zl, Zp) to ' ',
//!   and whatever NFKC turns into one printable ASCII character (fullwidth
//!   forms, mathematical letters and digits, small forms such as U+FE6B
//!   '﹫').
//!
//! ```python
//! # Generates src/scrub/detect/fold/tables.rs's tables (run with the
//! # unicodedata2 package of the wanted Unicode version on the path).
//! import sys
//! import unicodedata2 as ud
//!
//! DROP = 0
//! # Default_Ignorable_Code_Point, from DerivedCoreProperties.txt.
//! DICP = [(0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
//!         (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
//!         (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
//!         (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
//!         (0xE0000, 0xE0FFF)]
//! # Combining marks that sit on Latin letters, digits and symbols (accents,
//! # keycaps): invisible as characters of their own.
//! MARK_BLOCKS = [(0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF),
//!                (0x20D0, 0x20FF), (0xFE20, 0xFE2F)]
//! MINUS = [0x2212]
//!
//! def chars():
//!     for cp in range(0x80, 0x110000):
//!         if not 0xD800 <= cp <= 0xDFFF:
//!             yield cp, chr(cp)
//!
//! nd_zeros = []
//! fold = {}
//! for cp, c in chars():
//!     cat = ud.category(c)
//!     if cat == 'Nd':
//!         if ud.digit(c) == 0:
//!             nd_zeros.append(cp)
//!         continue
//!     if cp <= 0x9F:
//!         fold[cp] = ord(' ') if cp == 0x85 else DROP
//!     elif any(lo <= cp <= hi for lo, hi in DICP) or cat == 'Cf':
//!         fold[cp] = DROP
//!     elif any(lo <= cp <= hi for lo, hi in MARK_BLOCKS) and cat in ('Mn', 'Me'):
//!         fold[cp] = DROP
//!     elif ud.digit(c, None) is not None:
//!         fold[cp] = ord('0') + ud.digit(c)
//!     elif cat == 'Pd' or cp in MINUS:
//!         fold[cp] = ord('-')
//!     elif cat in ('Zs', 'Zl', 'Zp'):
//!         fold[cp] = ord(' ')
//!     else:
//!         n = ud.normalize('NFKC', c)
//!         if len(n) == 1 and 0x21 <= ord(n) <= 0x7E:
//!             fold[cp] = ord(n)
//!
//! # Nd digits come in runs of ten, zero to nine.
//! for z in nd_zeros:
//!     assert all(ud.category(chr(z + k)) == 'Nd' and ud.digit(chr(z + k)) == k for k in range(10))
//!
//! ranges = []  # [lo, hi, to, ascending]
//! for cp in sorted(fold):
//!     to = fold[cp]
//!     if ranges and cp == ranges[-1][1] + 1:
//!         lo, hi, t0, asc = ranges[-1]
//!         if to == t0 and asc is not True:
//!             ranges[-1] = [lo, cp, t0, False]
//!             continue
//!         if DROP not in (to, t0) and to == t0 + (cp - lo) and asc is not False:
//!             ranges[-1] = [lo, cp, t0, True]
//!             continue
//!     ranges.append([cp, cp, to, None])
//!
//! back = {}
//! for lo, hi, to, asc in ranges:
//!     for cp in range(lo, hi + 1):
//!         back[cp] = to + (cp - lo) if asc else to
//! assert back == fold
//!
//! print(f"// Unicode {ud.unidata_version}: {len(nd_zeros)} runs of Nd digits, {len(ranges)} ranges of other folds.")
//! print(f"pub(super) const ND_ZEROS: [u32; {len(nd_zeros)}] = [")
//! for i in range(0, len(nd_zeros), 6):
//!     print("    " + ", ".join(f"0x{z:05X}" for z in nd_zeros[i:i + 6]) + ",")
//! print("];")
//! print(f"pub(super) const FOLDS: [(u32, u32, u8, bool); {len(ranges)}] = [")
//! for lo, hi, to, asc in ranges:
//!     print(f"    (0x{lo:05X}, 0x{hi:05X}, {to}, {'true' if asc else 'false'}),")
//! print("];")
//! ```

// Unicode 18.0.0: 76 runs of Nd digits, 257 ranges of other folds.
pub(super) const ND_ZEROS: [u32; 76] = [
    0x00660, 0x006F0, 0x007C0, 0x00966, 0x009E6, 0x00A66, 0x00AE6, 0x00B66, 0x00BE6, 0x00C66,
    0x00CE6, 0x00D66, 0x00DE6, 0x00E50, 0x00ED0, 0x00F20, 0x01040, 0x01090, 0x017E0, 0x01810,
    0x01946, 0x019D0, 0x01A80, 0x01A90, 0x01B50, 0x01BB0, 0x01C40, 0x01C50, 0x0A620, 0x0A8D0,
    0x0A900, 0x0A9D0, 0x0A9F0, 0x0AA50, 0x0ABF0, 0x0FF10, 0x104A0, 0x10D30, 0x10D40, 0x11066,
    0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650, 0x116C0, 0x116D0, 0x116DA,
    0x11730, 0x118E0, 0x11950, 0x11BF0, 0x11C50, 0x11D50, 0x11DA0, 0x11DE0, 0x11F50, 0x16130,
    0x16A60, 0x16AC0, 0x16B50, 0x16D70, 0x1CCF0, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6,
    0x1E140, 0x1E2F0, 0x1E4F0, 0x1E5F1, 0x1E950, 0x1FBF0,
];
pub(super) const FOLDS: [(u32, u32, u8, bool); 257] = [
    (0x00080, 0x00084, 0, false),
    (0x00085, 0x00085, 32, false),
    (0x00086, 0x0009F, 0, false),
    (0x000A0, 0x000A0, 32, false),
    (0x000AA, 0x000AA, 97, false),
    (0x000AD, 0x000AD, 0, false),
    (0x000B2, 0x000B3, 50, true),
    (0x000B9, 0x000B9, 49, false),
    (0x000BA, 0x000BA, 111, false),
    (0x0017F, 0x0017F, 115, false),
    (0x002B0, 0x002B0, 104, false),
    (0x002B2, 0x002B2, 106, false),
    (0x002B3, 0x002B3, 114, false),
    (0x002B7, 0x002B7, 119, false),
    (0x002B8, 0x002B8, 121, false),
    (0x002E1, 0x002E1, 108, false),
    (0x002E2, 0x002E2, 115, false),
    (0x002E3, 0x002E3, 120, false),
    (0x00300, 0x0036F, 0, false),
    (0x0037E, 0x0037E, 59, false),
    (0x0058A, 0x0058A, 45, false),
    (0x005BE, 0x005BE, 45, false),
    (0x00600, 0x00605, 0, false),
    (0x0061C, 0x0061C, 0, false),
    (0x006DD, 0x006DD, 0, false),
    (0x0070F, 0x0070F, 0, false),
    (0x00890, 0x00891, 0, false),
    (0x008E2, 0x008E2, 0, false),
    (0x0115F, 0x01160, 0, false),
    (0x01369, 0x01371, 49, true),
    (0x01400, 0x01400, 45, false),
    (0x01680, 0x01680, 32, false),
    (0x017B4, 0x017B5, 0, false),
    (0x01806, 0x01806, 45, false),
    (0x0180B, 0x0180F, 0, false),
    (0x019DA, 0x019DA, 49, false),
    (0x01AB0, 0x01AF0, 0, false),
    (0x01D2C, 0x01D2C, 65, false),
    (0x01D2E, 0x01D2E, 66, false),
    (0x01D30, 0x01D31, 68, true),
    (0x01D33, 0x01D3A, 71, true),
    (0x01D3C, 0x01D3C, 79, false),
    (0x01D3E, 0x01D3E, 80, false),
    (0x01D3F, 0x01D3F, 82, false),
    (0x01D40, 0x01D41, 84, true),
    (0x01D42, 0x01D42, 87, false),
    (0x01D43, 0x01D43, 97, false),
    (0x01D47, 0x01D47, 98, false),
    (0x01D48, 0x01D49, 100, true),
    (0x01D4D, 0x01D4D, 103, false),
    (0x01D4F, 0x01D4F, 107, false),
    (0x01D50, 0x01D50, 109, false),
    (0x01D52, 0x01D52, 111, false),
    (0x01D56, 0x01D56, 112, false),
    (0x01D57, 0x01D58, 116, true),
    (0x01D5B, 0x01D5B, 118, false),
    (0x01D62, 0x01D62, 105, false),
    (0x01D63, 0x01D63, 114, false),
    (0x01D64, 0x01D65, 117, true),
    (0x01D9C, 0x01D9C, 99, false),
    (0x01DA0, 0x01DA0, 102, false),
    (0x01DBB, 0x01DBB, 122, false),
    (0x01DC0, 0x01DFF, 0, false),
    (0x01FEF, 0x01FEF, 96, false),
    (0x02000, 0x0200A, 32, false),
    (0x0200B, 0x0200F, 0, false),
    (0x02010, 0x02015, 45, false),
    (0x02024, 0x02024, 46, false),
    (0x02028, 0x02029, 32, false),
    (0x0202A, 0x0202E, 0, false),
    (0x0202F, 0x0202F, 32, false),
    (0x0205F, 0x0205F, 32, false),
    (0x02060, 0x0206F, 0, false),
    (0x02070, 0x02070, 48, false),
    (0x02071, 0x02071, 105, false),
    (0x02074, 0x02079, 52, true),
    (0x0207A, 0x0207A, 43, false),
    (0x0207C, 0x0207C, 61, false),
    (0x0207D, 0x0207E, 40, true),
    (0x0207F, 0x0207F, 110, false),
    (0x02080, 0x02089, 48, true),
    (0x0208A, 0x0208A, 43, false),
    (0x0208C, 0x0208C, 61, false),
    (0x0208D, 0x0208E, 40, true),
    (0x02090, 0x02090, 97, false),
    (0x02091, 0x02091, 101, false),
    (0x02092, 0x02092, 111, false),
    (0x02093, 0x02093, 120, false),
    (0x02095, 0x02095, 104, false),
    (0x02096, 0x02099, 107, true),
    (0x0209A, 0x0209A, 112, false),
    (0x0209B, 0x0209C, 115, true),
    (0x0209D, 0x0209D, 119, false),
    (0x0209E, 0x0209F, 121, true),
    (0x020D0, 0x020F0, 0, false),
    (0x02102, 0x02102, 67, false),
    (0x0210A, 0x0210A, 103, false),
    (0x0210B, 0x0210D, 72, false),
    (0x0210E, 0x0210E, 104, false),
    (0x02110, 0x02111, 73, false),
    (0x02112, 0x02112, 76, false),
    (0x02113, 0x02113, 108, false),
    (0x02115, 0x02115, 78, false),
    (0x02119, 0x0211B, 80, true),
    (0x0211C, 0x0211D, 82, false),
    (0x02124, 0x02124, 90, false),
    (0x02128, 0x02128, 90, false),
    (0x0212A, 0x0212A, 75, false),
    (0x0212C, 0x0212D, 66, true),
    (0x0212F, 0x0212F, 101, false),
    (0x02130, 0x02131, 69, true),
    (0x02133, 0x02133, 77, false),
    (0x02134, 0x02134, 111, false),
    (0x02139, 0x02139, 105, false),
    (0x02145, 0x02145, 68, false),
    (0x02146, 0x02147, 100, true),
    (0x02148, 0x02149, 105, true),
    (0x02160, 0x02160, 73, false),
    (0x02164, 0x02164, 86, false),
    (0x02169, 0x02169, 88, false),
    (0x0216C, 0x0216C, 76, false),
    (0x0216D, 0x0216E, 67, true),
    (0x0216F, 0x0216F, 77, false),
    (0x02170, 0x02170, 105, false),
    (0x02174, 0x02174, 118, false),
    (0x02179, 0x02179, 120, false),
    (0x0217C, 0x0217C, 108, false),
    (0x0217D, 0x0217E, 99, true),
    (0x0217F, 0x0217F, 109, false),
    (0x02212, 0x02212, 45, false),
    (0x02460, 0x02468, 49, true),
    (0x02474, 0x0247C, 49, true),
    (0x02488, 0x02490, 49, true),
    (0x024B6, 0x024CF, 65, true),
    (0x024D0, 0x024E9, 97, true),
    (0x024EA, 0x024EA, 48, false),
    (0x024F5, 0x024FD, 49, true),
    (0x024FF, 0x024FF, 48, false),
    (0x02776, 0x0277E, 49, true),
    (0x02780, 0x02788, 49, true),
    (0x0278A, 0x02792, 49, true),
    (0x02C7C, 0x02C7C, 106, false),
    (0x02C7D, 0x02C7D, 86, false),
    (0x02E17, 0x02E17, 45, false),
    (0x02E1A, 0x02E1A, 45, false),
    (0x02E3A, 0x02E3B, 45, false),
    (0x02E40, 0x02E40, 45, false),
    (0x02E5D, 0x02E5D, 45, false),
    (0x03000, 0x03000, 32, false),
    (0x0301C, 0x0301C, 45, false),
    (0x03030, 0x03030, 45, false),
    (0x030A0, 0x030A0, 45, false),
    (0x03164, 0x03164, 0, false),
    (0x0A7F1, 0x0A7F1, 83, false),
    (0x0A7F2, 0x0A7F2, 67, false),
    (0x0A7F3, 0x0A7F3, 70, false),
    (0x0A7F4, 0x0A7F4, 81, false),
    (0x0FB29, 0x0FB29, 43, false),
    (0x0FE00, 0x0FE0F, 0, false),
    (0x0FE10, 0x0FE10, 44, false),
    (0x0FE13, 0x0FE14, 58, true),
    (0x0FE15, 0x0FE15, 33, false),
    (0x0FE16, 0x0FE16, 63, false),
    (0x0FE20, 0x0FE2F, 0, false),
    (0x0FE31, 0x0FE32, 45, false),
    (0x0FE33, 0x0FE34, 95, false),
    (0x0FE35, 0x0FE36, 40, true),
    (0x0FE37, 0x0FE37, 123, false),
    (0x0FE38, 0x0FE38, 125, false),
    (0x0FE47, 0x0FE47, 91, false),
    (0x0FE48, 0x0FE48, 93, false),
    (0x0FE4D, 0x0FE4F, 95, false),
    (0x0FE50, 0x0FE50, 44, false),
    (0x0FE52, 0x0FE52, 46, false),
    (0x0FE54, 0x0FE54, 59, false),
    (0x0FE55, 0x0FE55, 58, false),
    (0x0FE56, 0x0FE56, 63, false),
    (0x0FE57, 0x0FE57, 33, false),
    (0x0FE58, 0x0FE58, 45, false),
    (0x0FE59, 0x0FE5A, 40, true),
    (0x0FE5B, 0x0FE5B, 123, false),
    (0x0FE5C, 0x0FE5C, 125, false),
    (0x0FE5F, 0x0FE5F, 35, false),
    (0x0FE60, 0x0FE60, 38, false),
    (0x0FE61, 0x0FE62, 42, true),
    (0x0FE63, 0x0FE63, 45, false),
    (0x0FE64, 0x0FE64, 60, false),
    (0x0FE65, 0x0FE65, 62, false),
    (0x0FE66, 0x0FE66, 61, false),
    (0x0FE68, 0x0FE68, 92, false),
    (0x0FE69, 0x0FE6A, 36, true),
    (0x0FE6B, 0x0FE6B, 64, false),
    (0x0FEFF, 0x0FEFF, 0, false),
    (0x0FF01, 0x0FF0F, 33, true),
    (0x0FF1A, 0x0FF5E, 58, true),
    (0x0FFA0, 0x0FFA0, 0, false),
    (0x0FFF0, 0x0FFFB, 0, false),
    (0x107A5, 0x107A5, 113, false),
    (0x10A40, 0x10A43, 49, true),
    (0x10D6E, 0x10D6E, 45, false),
    (0x10E60, 0x10E68, 49, true),
    (0x10EAD, 0x10EAD, 45, false),
    (0x11052, 0x1105A, 49, true),
    (0x110BD, 0x110BD, 0, false),
    (0x110CD, 0x110CD, 0, false),
    (0x13430, 0x1343F, 0, false),
    (0x1BCA0, 0x1BCA3, 0, false),
    (0x1CCD6, 0x1CCEF, 65, true),
    (0x1D173, 0x1D17A, 0, false),
    (0x1D400, 0x1D419, 65, true),
    (0x1D41A, 0x1D433, 97, true),
    (0x1D434, 0x1D44D, 65, true),
    (0x1D44E, 0x1D454, 97, true),
    (0x1D456, 0x1D467, 105, true),
    (0x1D468, 0x1D481, 65, true),
    (0x1D482, 0x1D49B, 97, true),
    (0x1D49C, 0x1D49C, 65, false),
    (0x1D49E, 0x1D49F, 67, true),
    (0x1D4A2, 0x1D4A2, 71, false),
    (0x1D4A5, 0x1D4A6, 74, true),
    (0x1D4A9, 0x1D4AC, 78, true),
    (0x1D4AE, 0x1D4B5, 83, true),
    (0x1D4B6, 0x1D4B9, 97, true),
    (0x1D4BB, 0x1D4BB, 102, false),
    (0x1D4BD, 0x1D4C3, 104, true),
    (0x1D4C5, 0x1D4CF, 112, true),
    (0x1D4D0, 0x1D4E9, 65, true),
    (0x1D4EA, 0x1D503, 97, true),
    (0x1D504, 0x1D505, 65, true),
    (0x1D507, 0x1D50A, 68, true),
    (0x1D50D, 0x1D514, 74, true),
    (0x1D516, 0x1D51C, 83, true),
    (0x1D51E, 0x1D537, 97, true),
    (0x1D538, 0x1D539, 65, true),
    (0x1D53B, 0x1D53E, 68, true),
    (0x1D540, 0x1D544, 73, true),
    (0x1D546, 0x1D546, 79, false),
    (0x1D54A, 0x1D550, 83, true),
    (0x1D552, 0x1D56B, 97, true),
    (0x1D56C, 0x1D585, 65, true),
    (0x1D586, 0x1D59F, 97, true),
    (0x1D5A0, 0x1D5B9, 65, true),
    (0x1D5BA, 0x1D5D3, 97, true),
    (0x1D5D4, 0x1D5ED, 65, true),
    (0x1D5EE, 0x1D607, 97, true),
    (0x1D608, 0x1D621, 65, true),
    (0x1D622, 0x1D63B, 97, true),
    (0x1D63C, 0x1D655, 65, true),
    (0x1D656, 0x1D66F, 97, true),
    (0x1D670, 0x1D689, 65, true),
    (0x1D68A, 0x1D6A3, 97, true),
    (0x1F100, 0x1F101, 48, false),
    (0x1F102, 0x1F10A, 49, true),
    (0x1F12B, 0x1F12B, 67, false),
    (0x1F12C, 0x1F12C, 82, false),
    (0x1F130, 0x1F149, 65, true),
    (0xE0000, 0xE0FFF, 0, false),
];
