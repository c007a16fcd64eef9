//! HMAC over an 8-byte counter, computed on the hash crates' compression functions.
//!
//! `hmac::Hmac<D>` keyed once and cloned per code still runs its generic buffering and
//! finalisation, about twelve compressions' worth for a ±1 window. HMAC of an 8-byte message
//! needs exactly two compressions once `K ⊕ ipad` and `K ⊕ opad` have been absorbed, so the key
//! schedule absorbs them here once per secret and each code costs only the inner and the outer
//! compression, with both padded blocks built on the stack. `tests/hmac_reference.rs` checks
//! this against `hmac::Hmac` for random keys and counters on all three hashes.

use sha1::Digest;
use zeroize::Zeroize;

/// One hash function's compression function and the constants HMAC needs around it.
pub(crate) trait Compression<const WORDS: usize, const BLOCK: usize> {
    /// The state word: `u32` for SHA-1/SHA-256, `u64` for SHA-512.
    type Word: Word;
    /// The initial hash value (FIPS 180-4 §5.3).
    const INITIAL_STATE: [Self::Word; WORDS];
    /// Runs the compression function over one block.
    fn compress(state: &mut [Self::Word; WORDS], block: &[u8; BLOCK]);
    /// Hashes a key longer than the block, as HMAC requires (RFC 2104 §2).
    fn hash_long_key(key: &[u8], out: &mut [u8; BLOCK]);
}

/// A hash state word, written big-endian into digests and blocks.
pub(crate) trait Word: Copy + Zeroize {
    /// Size in bytes.
    const BYTES: usize;
    /// Writes the word big-endian into `out` (exactly `BYTES` long).
    fn write_be(self, out: &mut [u8]);
}

impl Word for u32 {
    const BYTES: usize = 4;
    #[inline(always)]
    fn write_be(self, out: &mut [u8]) {
        out.copy_from_slice(&self.to_be_bytes());
    }
}

impl Word for u64 {
    const BYTES: usize = 8;
    #[inline(always)]
    fn write_be(self, out: &mut [u8]) {
        out.copy_from_slice(&self.to_be_bytes());
    }
}

/// SHA-1 (FIPS 180-4 §6.1).
pub(crate) struct Sha1Compression;
/// SHA-256 (FIPS 180-4 §6.2).
pub(crate) struct Sha256Compression;
/// SHA-512 (FIPS 180-4 §6.4).
pub(crate) struct Sha512Compression;

impl Compression<5, 64> for Sha1Compression {
    type Word = u32;
    const INITIAL_STATE: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    #[inline(always)]
    fn compress(state: &mut [u32; 5], block: &[u8; 64]) {
        sha1::block_api::compress(state, core::slice::from_ref(block));
    }
    fn hash_long_key(key: &[u8], out: &mut [u8; 64]) {
        let mut digest = sha1::Sha1::digest(key);
        copy_digest(&digest, out);
        digest.as_mut_slice().zeroize();
    }
}

impl Compression<8, 64> for Sha256Compression {
    type Word = u32;
    const INITIAL_STATE: [u32; 8] = [
        0x6a09_e667,
        0xbb67_ae85,
        0x3c6e_f372,
        0xa54f_f53a,
        0x510e_527f,
        0x9b05_688c,
        0x1f83_d9ab,
        0x5be0_cd19,
    ];
    #[inline(always)]
    fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
        sha2::block_api::compress256(state, core::slice::from_ref(block));
    }
    fn hash_long_key(key: &[u8], out: &mut [u8; 64]) {
        let mut digest = sha2::Sha256::digest(key);
        copy_digest(&digest, out);
        digest.as_mut_slice().zeroize();
    }
}

impl Compression<8, 128> for Sha512Compression {
    type Word = u64;
    const INITIAL_STATE: [u64; 8] = [
        0x6a09_e667_f3bc_c908,
        0xbb67_ae85_84ca_a73b,
        0x3c6e_f372_fe94_f82b,
        0xa54f_f53a_5f1d_36f1,
        0x510e_527f_ade6_82d1,
        0x9b05_688c_2b3e_6c1f,
        0x1f83_d9ab_fb41_bd6b,
        0x5be0_cd19_137e_2179,
    ];
    #[inline(always)]
    fn compress(state: &mut [u64; 8], block: &[u8; 128]) {
        sha2::block_api::compress512(state, core::slice::from_ref(block));
    }
    fn hash_long_key(key: &[u8], out: &mut [u8; 128]) {
        let mut digest = sha2::Sha512::digest(key);
        copy_digest(&digest, out);
        digest.as_mut_slice().zeroize();
    }
}

/// Copies a digest into the start of a zeroed key block; digests are never longer than blocks.
fn copy_digest(digest: &[u8], block: &mut [u8]) {
    for (slot, byte) in block.iter_mut().zip(digest) {
        *slot = *byte;
    }
}

/// HMAC keyed once: the compression states after absorbing `K ⊕ ipad` and `K ⊕ opad`.
///
/// These states are as good as the key for computing codes, so they are zeroized on drop.
pub(crate) struct KeyedHash<C: Compression<WORDS, BLOCK>, const WORDS: usize, const BLOCK: usize> {
    inner: [C::Word; WORDS],
    outer: [C::Word; WORDS],
}

impl<C: Compression<WORDS, BLOCK>, const WORDS: usize, const BLOCK: usize> Clone
    for KeyedHash<C, WORDS, BLOCK>
{
    fn clone(&self) -> Self {
        KeyedHash {
            inner: self.inner,
            outer: self.outer,
        }
    }
}

impl<C: Compression<WORDS, BLOCK>, const WORDS: usize, const BLOCK: usize> Drop
    for KeyedHash<C, WORDS, BLOCK>
{
    fn drop(&mut self) {
        self.inner.zeroize();
        self.outer.zeroize();
    }
}

/// The largest digest (SHA-512) in bytes.
const MAX_DIGEST_BYTES: usize = 64;

impl<C: Compression<WORDS, BLOCK>, const WORDS: usize, const BLOCK: usize>
    KeyedHash<C, WORDS, BLOCK>
{
    const DIGEST_BYTES: usize = WORDS * C::Word::BYTES;

    /// Absorbs the key's inner and outer pads (RFC 2104 §2).
    pub(crate) fn new(key: &[u8]) -> Self {
        let mut key_block = [0u8; BLOCK];
        if key.len() > BLOCK {
            C::hash_long_key(key, &mut key_block);
        } else {
            copy_digest(key, &mut key_block);
        }
        let mut inner = C::INITIAL_STATE;
        let mut outer = C::INITIAL_STATE;
        let mut pad = [0u8; BLOCK];
        xor_into(&mut pad, &key_block, 0x36);
        C::compress(&mut inner, &pad);
        xor_into(&mut pad, &key_block, 0x5c);
        C::compress(&mut outer, &pad);
        pad.zeroize();
        key_block.zeroize();
        KeyedHash { inner, outer }
    }

    /// HMAC(K, counter as 8 big-endian bytes), dynamically truncated to 31 bits
    /// (RFC 4226 §5.3). Two compressions, no allocation.
    #[inline(always)]
    pub(crate) fn truncated_mac(&self, counter: u64) -> u32 {
        let mut state = self.inner;
        C::compress(&mut state, &inner_block::<BLOCK>(counter));
        let outer_block = self.outer_block(&state);
        state = self.outer;
        C::compress(&mut state, &outer_block);
        self.truncate(&state)
    }

    /// [`Self::truncated_mac`] for the `count` consecutive counters `first, first + 1, …`,
    /// into the first `count` slots of `out`.
    ///
    /// Each HMAC is a chain of two compressions, but the chains of different counters are
    /// independent, so they are computed [`LANES`] at a time, phase by phase: every block of a
    /// phase is written before any compression of that phase starts. The compression loads its
    /// block with 16-byte loads that cannot forward from the narrower stores that built it, so
    /// a block written between two compressions waits for the earlier compression to retire;
    /// written up front, the compressions of a phase overlap in the CPU's out-of-order window.
    #[inline(always)]
    pub(crate) fn truncated_macs(&self, first: u64, out: &mut [u32; MAX_CANDIDATES], count: usize) {
        let count = count.min(MAX_CANDIDATES);
        for (lane_start, out) in (0..count).step_by(LANES).zip(out.chunks_mut(LANES)) {
            let lanes = (count - lane_start).min(LANES);
            let base = first.saturating_add(lane_start as u64);
            let mut blocks = [[0u8; BLOCK]; LANES];
            for (counter, block) in (base..).zip(blocks.iter_mut().take(lanes)) {
                *block = inner_block::<BLOCK>(counter);
            }
            let mut states = [self.inner; LANES];
            for (state, block) in states.iter_mut().zip(&blocks).take(lanes) {
                C::compress(state, block);
            }
            for (block, state) in blocks.iter_mut().zip(&states).take(lanes) {
                *block = self.outer_block(state);
            }
            // Lanes beyond `lanes` still hold the prepared key state, which is as good as
            // the key: wipe the arrays before they go out of scope.
            states.zeroize();
            let mut states = [self.outer; LANES];
            for (state, block) in states.iter_mut().zip(&blocks).take(lanes) {
                C::compress(state, block);
            }
            for (slot, state) in out.iter_mut().zip(&states).take(lanes) {
                *slot = self.truncate(state);
            }
            states.zeroize();
        }
    }

    // The HMAC output for one counter says nothing about the key and is only worth the code of
    // that step, so the blocks and digests built from it are not zeroized; the key states
    // themselves are (above, and on drop).

    /// The outer block: the inner digest, then padding for a block-plus-digest message.
    #[inline(always)]
    fn outer_block(&self, inner_state: &[C::Word; WORDS]) -> [u8; BLOCK] {
        let mut block = [0u8; BLOCK];
        for (chunk, word) in block.chunks_exact_mut(C::Word::BYTES).zip(inner_state) {
            word.write_be(chunk);
        }
        finish_padding(&mut block, Self::DIGEST_BYTES);
        block
    }

    #[inline(always)]
    fn truncate(&self, outer_state: &[C::Word; WORDS]) -> u32 {
        let mut digest = [0u8; MAX_DIGEST_BYTES];
        for (chunk, word) in digest.chunks_exact_mut(C::Word::BYTES).zip(outer_state) {
            word.write_be(chunk);
        }
        dynamic_truncation(&digest, Self::DIGEST_BYTES)
    }
}

/// HMACs computed side by side: a ±1 window in one pass.
const LANES: usize = 4;

/// Candidates in the widest window: `Window::MAX_STEPS` either side of the current step.
pub(crate) const MAX_CANDIDATES: usize = 2 * crate::config::Window::MAX_STEPS as usize + 1;

/// The inner block: the 8-byte big-endian counter, then padding for a block-plus-8 message.
#[inline(always)]
fn inner_block<const BLOCK: usize>(counter: u64) -> [u8; BLOCK] {
    let mut block = [0u8; BLOCK];
    write_prefix(&mut block, &counter.to_be_bytes());
    finish_padding(&mut block, 8);
    block
}

/// `pad = key ⊕ (byte repeated)`.
fn xor_into(pad: &mut [u8], key: &[u8], byte: u8) {
    for (slot, key_byte) in pad.iter_mut().zip(key) {
        *slot = key_byte ^ byte;
    }
}

fn write_prefix(block: &mut [u8], message: &[u8]) {
    for (slot, byte) in block.iter_mut().zip(message) {
        *slot = *byte;
    }
}

/// Completes an MD-style padded block after a `message_len`-byte message that follows one
/// already-absorbed key block: the `0x80` marker and the big-endian bit length at the end.
/// SHA-512's length field is 16 bytes; its upper 8 stay zero for any length here.
#[inline(always)]
fn finish_padding<const BLOCK: usize>(block: &mut [u8; BLOCK], message_len: usize) {
    if let Some(marker) = block.get_mut(message_len) {
        *marker = 0x80;
    }
    let bits = ((BLOCK + message_len) as u64) * 8;
    if let Some(tail) = block.last_chunk_mut::<8>() {
        *tail = bits.to_be_bytes();
    }
}

/// RFC 4226 §5.3: the low nibble of the last byte picks four bytes, of which the low 31 bits
/// count.
#[inline(always)]
fn dynamic_truncation(digest: &[u8; MAX_DIGEST_BYTES], digest_len: usize) -> u32 {
    let offset = digest
        .get(digest_len.wrapping_sub(1))
        .map_or(0, |last| usize::from(last & 0x0f));
    let mut bytes = [0u8; 4];
    if let Some(window) = digest.get(offset..offset + 4) {
        bytes.copy_from_slice(window);
    }
    u32::from_be_bytes(bytes) & 0x7fff_ffff
}
