//! The journal's frames, headers and torn tails, written and read back byte by byte.

use super::*;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("audience-journal-unit-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn write(j: &mut Journal, payload: &[u8]) {
    j.start().extend_from_slice(payload);
    j.append().unwrap();
}

/// The records read (offset, payload) and the torn tail after them.
type Read = (Vec<(u64, Vec<u8>)>, Option<TornTail>);

fn records(snap: &Path, generation: u64) -> Result<Read> {
    let Found::Current(mut r) = read(snap, generation, Access::Append)? else { panic!("not current") };
    records_of(&mut r)
}

fn records_of(r: &mut Records) -> Result<Read> {
    let mut out = Vec::new();
    loop {
        match r.next()? {
            Next::Record(at, _, p) => out.push((at, p.to_vec())),
            Next::End => return Ok((out, None)),
            Next::Torn(t) => return Ok((out, Some(t))),
        }
    }
}

/// The journal `bytes` of `snap` (records at `starts`), cut at every byte of its last record:
/// torn, the records before it kept; and with a flipped bit in every byte of its second
/// record: damage at that record's offset.
fn cuts_and_flips(snap: &Path, generation: u64, bytes: &[u8], starts: &[u64]) {
    let last = *starts.last().unwrap();
    for cut in last..bytes.len() as u64 {
        fs::write(journal_path(snap), &bytes[..cut as usize]).unwrap();
        let (got, torn) = records(snap, generation).unwrap();
        assert_eq!(got.len(), starts.len() - 1, "cut at {cut}");
        assert_eq!(torn, (cut > last).then_some(TornTail { offset: last, bytes: cut - last }));
    }
    for at in starts[1]..starts[2] {
        let mut b = bytes.to_vec();
        b[at as usize] ^= 1 << (at % 8);
        fs::write(journal_path(snap), &b).unwrap();
        match records(snap, generation) {
            Err(Error::Corrupt { offset, .. }) => assert_eq!(offset, starts[1], "flip at {at}"),
            other => panic!("flip at {at}: {:?}", other.map(|r| r.1)),
        }
    }
}

#[test]
fn records_round_trip_and_a_torn_tail_is_told_from_damage() {
    let d = dir("frames");
    let snap = d.join("s.snap");
    let mut j = Journal::create(&snap, 7, SyncPolicy::Manual).unwrap();
    let payloads: Vec<Vec<u8>> = vec![b"one".to_vec(), vec![0; 40], "高消费".as_bytes().to_vec()];
    for p in &payloads {
        write(&mut j, p);
    }
    drop(j);
    let (got, torn) = records(&snap, 7).unwrap();
    assert_eq!(got.iter().map(|(_, p)| p.clone()).collect::<Vec<_>>(), payloads);
    assert_eq!(torn, None);
    let offsets: Vec<u64> = got.iter().map(|r| r.0).collect();
    assert_eq!(offsets, [24, 24 + 12 + 3, 24 + 12 + 3 + 12 + 40]);
    let bytes = fs::read(journal_path(&snap)).unwrap();
    cuts_and_flips(&snap, 7, &bytes, &offsets);
    // Zeros after the last record (space extended, never written): a torn tail.
    let mut b = bytes.clone();
    b.extend_from_slice(&[0; 100]);
    fs::write(journal_path(&snap), &b).unwrap();
    let (got, torn) = records(&snap, 7).unwrap();
    assert_eq!((got.len(), torn), (3, Some(TornTail { offset: bytes.len() as u64, bytes: 100 })));
    // Garbage after the last record: damage.
    let mut b = bytes.clone();
    b.extend_from_slice(&[0xAB; 30]);
    fs::write(journal_path(&snap), &b).unwrap();
    assert!(matches!(records(&snap, 7), Err(Error::Corrupt { .. })));
    // Headers: stale, newer, foreign, future, short.
    fs::write(journal_path(&snap), &bytes).unwrap();
    assert!(matches!(read(&snap, 8, Access::Append), Ok(Found::Stale(7))));
    assert!(matches!(read(&snap, 6, Access::Append), Ok(Found::Newer(7))));
    let mut b = bytes.clone();
    b[..8].copy_from_slice(b"AUDSNAP\0");
    fs::write(journal_path(&snap), &b).unwrap();
    assert!(matches!(read(&snap, 7, Access::Append), Err(Error::Corrupt { offset: 0, .. })));
    let mut b = header(7).to_vec();
    b[8] = 3;
    let crc = crc32c::crc32c(&b[..20]);
    b[20..].copy_from_slice(&crc.to_le_bytes());
    fs::write(journal_path(&snap), &b).unwrap();
    assert!(matches!(read(&snap, 7, Access::Append), Err(Error::UnsupportedVersion { found: 3, .. })));
    let mut b = header(7).to_vec();
    b[8] = 1; // version 1: the same frames, none long
    let crc = crc32c::crc32c(&b[..20]);
    b[20..].copy_from_slice(&crc.to_le_bytes());
    fs::write(journal_path(&snap), &b).unwrap();
    assert!(matches!(read(&snap, 7, Access::Append), Ok(Found::Current(_))));
    for cut in 0..HEADER as usize {
        fs::write(journal_path(&snap), &bytes[..cut]).unwrap();
        assert!(matches!(read(&snap, 7, Access::Append), Err(Error::Corrupt { offset: 0, .. })), "header cut at {cut}");
    }
    fs::remove_file(journal_path(&snap)).unwrap();
    assert!(matches!(read(&snap, 7, Access::Append), Ok(Found::Missing)));
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn long_frames_read_back_beside_short_ones_and_a_cut_or_flip_in_one_is_told_apart() {
    let d = dir("long");
    let snap = d.join("s.snap");
    let mut j = Journal::create(&snap, 3, SyncPolicy::Manual).unwrap();
    // Payloads from 5 bytes on take the long frame (4 GiB in use): short, long, short, long.
    j.set_long_from(5);
    let payloads: Vec<Vec<u8>> = vec![b"abc".to_vec(), vec![7; 50], Vec::new(), "高消费 vip".as_bytes().to_vec()];
    for p in &payloads {
        write(&mut j, p);
    }
    drop(j);
    let bytes = fs::read(journal_path(&snap)).unwrap();
    let heads = [FRAME, LONG_FRAME, FRAME, LONG_FRAME];
    let mut offsets = vec![HEADER];
    for (p, h) in payloads.iter().zip(heads) {
        offsets.push(offsets.last().unwrap() + h + p.len() as u64);
    }
    assert_eq!(bytes.len() as u64, offsets[4]);
    assert_eq!(bytes[offsets[1] as usize..][..4], [0xFF; 4], "the second record's length field announces a long frame");
    let (got, torn) = records(&snap, 3).unwrap();
    assert_eq!(torn, None);
    assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), offsets[..4]);
    assert_eq!(got.into_iter().map(|r| r.1).collect::<Vec<_>>(), payloads);
    // The payload's offset is past the long frame.
    let Found::Current(mut r) = read(&snap, 3, Access::Append).unwrap() else { panic!("current") };
    let _ = r.next().unwrap();
    assert!(matches!(r.next().unwrap(), Next::Record(at, payload_at, _) if payload_at == at + LONG_FRAME));
    drop(r);
    // The last record and the second are long.
    cuts_and_flips(&snap, 3, &bytes, &offsets[..4]);
    // A long frame whose length runs past the file (a 5 GiB record cut short): torn.
    let mut b = bytes[..offsets[2] as usize].to_vec();
    let (f, n) = frame(&[1, 2, 3], true);
    let mut f = f[..n].to_vec();
    f[8..16].copy_from_slice(&(5u64 << 30).to_le_bytes());
    let crc = crc32c::crc32c(&f[..16]);
    f[16..].copy_from_slice(&crc.to_le_bytes());
    b.extend_from_slice(&f);
    b.extend_from_slice(&[1, 2, 3]);
    fs::write(journal_path(&snap), &b).unwrap();
    let (got, torn) = records(&snap, 3).unwrap();
    assert_eq!((got.len(), torn), (2, Some(TornTail { offset: offsets[2], bytes: 23 })));
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn attach_cuts_a_torn_tail_and_a_second_writer_is_refused() {
    let d = dir("attach");
    let snap = d.join("s.snap");
    let mut j = Journal::create(&snap, 1, SyncPolicy::EveryWrite).unwrap();
    write(&mut j, b"abc");
    assert!(matches!(read(&snap, 1, Access::Append), Err(Error::JournalInUse { .. })));
    assert!(matches!(read(&snap, 1, Access::ReadOnly), Ok(Found::Current(_))), "a reader takes no lock");
    drop(j);
    let mut b = fs::read(journal_path(&snap)).unwrap();
    b.extend_from_slice(&[1, 2, 3]);
    fs::write(journal_path(&snap), &b).unwrap();
    let Ok(Found::Current(mut r)) = read(&snap, 1, Access::Append) else { panic!("current") };
    assert_eq!(records_of(&mut r).unwrap().1.map(|t| t.bytes), Some(3));
    let mut j = r.into_journal(SyncPolicy::EveryWrite).unwrap();
    write(&mut j, b"defg");
    drop(j);
    let (got, torn) = records(&snap, 1).unwrap();
    assert_eq!(got.iter().map(|(_, p)| p.clone()).collect::<Vec<_>>(), [b"abc".to_vec(), b"defg".to_vec()]);
    assert_eq!(torn, None);
    fs::remove_dir_all(&d).unwrap();
}
