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
        // Up to the next word boundary, then whole words (one store each), then the rest: the
        // simulation's peers and oracles run this over every byte they send and check.
        let head = ((8 - self.position % 8) % 8).min(buf.len() as u64) as usize;
        let (head, rest) = buf.split_at_mut(head);
        self.fill_partial(head);
        let mut words = rest.chunks_exact_mut(8);
        for chunk in &mut words {
            let word: &mut [u8; 8] = chunk.try_into().expect("chunks of eight");
            *word = splitmix64(self.seed ^ (self.position / 8)).to_le_bytes();
            self.position += 8;
        }
        self.fill_partial(words.into_remainder());
    }

    /// Fills `buf`, which lies within one word of the stream.
    fn fill_partial(&mut self, buf: &mut [u8]) {
        if buf.is_empty() {
            return;
        }
        let word = splitmix64(self.seed ^ (self.position / 8)).to_le_bytes();
        let start = (self.position % 8) as usize;
        buf.copy_from_slice(&word[start..start + buf.len()]);
        self.position += buf.len() as u64;
    }

    /// Checks that `data` are the next bytes of the stream; the error names the first offset
    /// that differs. Either way the stream moves on by `data.len()` bytes.
    pub fn check(&mut self, data: &[u8]) -> Result<(), String> {
        let start = self.position;
        let mut expected = [0; 4096];
        let mut first_difference = None;
        for (n, piece) in data.chunks(expected.len()).enumerate() {
            let expected = &mut expected[..piece.len()];
            self.fill(expected);
            if piece != expected {
                let at = piece.iter().zip(expected.iter()).position(|(a, b)| a != b);
                first_difference = at.map(|at| n * 4096 + at);
                break;
            }
        }
        self.position = start + data.len() as u64;
        match first_difference {
            None => Ok(()),
            Some(at) => Err(format!("byte {} differs", start + at as u64)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte `i` of stream `seed`, by the definition.
    fn byte(seed: u64, i: u64) -> u8 {
        splitmix64(seed ^ (i / 8)).to_le_bytes()[(i % 8) as usize]
    }

    #[test]
    fn fill_in_pieces_of_any_size_gives_the_stream_byte_by_byte() {
        let mut state = 7u64;
        for seed in [0, 1, 0xdead_beef] {
            let mut pattern = Pattern::new(seed);
            let mut position = 0u64;
            while position < 40_000 {
                state = splitmix64(state);
                let mut piece = vec![0; (state % 9_000) as usize];
                pattern.fill(&mut piece);
                for (k, b) in piece.iter().enumerate() {
                    assert_eq!(
                        *b,
                        byte(seed, position + k as u64),
                        "seed {seed} byte {}",
                        position + k as u64
                    );
                }
                position += piece.len() as u64;
            }
        }
    }

    #[test]
    fn check_names_the_first_differing_byte_and_moves_on_by_the_whole_piece() {
        let mut sent = vec![0; 10_000];
        Pattern::new(3).fill(&mut sent);
        let mut reader = Pattern::new(3);
        assert_eq!(reader.check(&sent[..5]), Ok(()));
        sent[9_000] ^= 1;
        sent[9_500] ^= 1;
        assert_eq!(
            reader.check(&sent[5..9_600]),
            Err("byte 9000 differs".into())
        );
        assert_eq!(reader.check(&sent[9_600..]), Ok(()));
        let mut whole = Pattern::new(3);
        assert_eq!(whole.check(&sent[..4]), Ok(()));
        assert_eq!(whole.check(&sent[4..]), Err("byte 9000 differs".into()));
    }
}
