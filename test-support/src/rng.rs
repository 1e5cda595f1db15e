//! The workspace's one seeded generator (SplitMix64) and the byte stream drawn from it.

/// Deterministic pseudo-random bytes: byte `i` of stream `seed` is the same however the
/// stream is cut into chunks.
#[derive(Debug, Clone, Copy)]
pub struct Pattern {
    seed: u64,
    position: u64,
}

/// The workspace's one SplitMix64 step: the output for generator state `state` (whose next
/// state is `state + SPLITMIX64_GAMMA`). Every seeded choice of the tests and the simulation
/// goes through it (`Pattern` here, the simulation's `SimRng`, the end-to-end tests' bytes).
pub fn splitmix64(state: u64) -> u64 {
    let mut z = state.wrapping_add(SPLITMIX64_GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// How far a SplitMix64 state moves per output.
pub const SPLITMIX64_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

impl Pattern {
    /// The stream `seed`, from its first byte.
    pub fn new(seed: u64) -> Self {
        Pattern { seed, position: 0 }
    }

    /// Fills `buf` with the next bytes of the stream.
    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut i = 0;
        while i < buf.len() {
            let word = splitmix64(self.seed ^ (self.position / 8)).to_le_bytes();
            let start = (self.position % 8) as usize;
            let n = (8 - start).min(buf.len() - i);
            buf[i..i + n].copy_from_slice(&word[start..start + n]);
            i += n;
            self.position += n as u64;
        }
    }

    /// Checks that `data` are the next bytes of the stream; the error names the first offset
    /// that differs.
    pub fn check(&mut self, data: &[u8]) -> Result<(), String> {
        let start = self.position;
        let mut expected = vec![0; data.len()];
        self.fill(&mut expected);
        match data.iter().zip(&expected).position(|(a, b)| a != b) {
            None => Ok(()),
            Some(at) => Err(format!("byte {} differs", start + at as u64)),
        }
    }
}
