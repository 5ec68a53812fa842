// EIP-712 helpers for the LTV record (docs/ltv-signature.md), using npm ethers only.
//   node tests/ltv_eip712.mjs vectors            prints digest vectors for check_unit_ltv.c
//   node tests/ltv_eip712.mjs verify FILE.json   FILE = {chain_id, record, signature, signer}
//     prints the recovered address, exits 1 when it is not the signer or when a record with
//     any one field changed still verifies.
//   node tests/ltv_eip712.mjs recover FILE       FILE: lines "digest signature"; prints addresses
//   node tests/ltv_eip712.mjs sign FILE          FILE: lines "privkey digest"; prints ethers' 65-byte
//     signature r || s || v of each (SigningKey.sign: RFC 6979 nonce, low s, v 27 or 28)
import { ethers } from "ethers";
import { readFileSync } from "node:fs";

export const types = {
  LtvRecord: [
    { name: "positionId", type: "bytes32" },
    { name: "sequence", type: "uint64" },
    { name: "ltvBps", type: "uint32" },
    { name: "rawLtvBps", type: "uint32" },
    { name: "state", type: "uint8" },
    { name: "collateralValue", type: "uint256" },
    { name: "weightedCollateralValue", type: "uint256" },
    { name: "debt", type: "uint256" },
    { name: "debtValue", type: "uint256" },
    { name: "asOf", type: "uint64" },
    { name: "cureDeadline", type: "uint64" },
  ],
};
const domain = (chainId) => ({ name: "sparkd", version: "1", chainId });

const mode = process.argv[2];
if (mode === "vectors") {
  const v = {
    positionId: ethers.keccak256(ethers.toUtf8Bytes("pos-1")),
    sequence: 7n,
    ltvBps: 7123,
    rawLtvBps: 6411,
    state: 2,
    collateralValue: 780000000000000n,
    weightedCollateralValue: 702000000000000n,
    debt: 5000000000000n,
    debtValue: 500000000000000n,
    asOf: 1767225600n,
    cureDeadline: 1767484800n,
  };
  console.log("domain", ethers.TypedDataEncoder.hashDomain(domain(1)));
  console.log("struct", ethers.TypedDataEncoder.hashStruct("LtvRecord", types, v));
  console.log("digest", ethers.TypedDataEncoder.hash(domain(1), types, v));
  console.log("digest_chain_8453", ethers.TypedDataEncoder.hash(domain(8453), types, v));
  console.log("encodeType", ethers.TypedDataEncoder.from(types).encodeType("LtvRecord"));
} else if (mode === "verify") {
  const f = JSON.parse(readFileSync(process.argv[3], "utf8"));
  const rec = f.record;
  const addr = ethers.verifyTypedData(domain(f.chain_id), types, rec, f.signature);
  console.log(addr);
  if (addr.toLowerCase() !== f.signer.toLowerCase()) {
    console.error("recovered " + addr + ", signer " + f.signer);
    process.exit(1);
  }
  // every field changed must recover another address
  for (const k of Object.keys(rec)) {
    const m = { ...rec };
    if (k === "positionId") m[k] = ethers.keccak256(ethers.toUtf8Bytes("other"));
    else m[k] = (BigInt(rec[k]) + 1n).toString();
    const a = ethers.verifyTypedData(domain(f.chain_id), types, m, f.signature);
    if (a.toLowerCase() === f.signer.toLowerCase()) {
      console.error("changed field " + k + " still verifies");
      process.exit(1);
    }
  }
  const other = ethers.verifyTypedData(domain(f.chain_id + 1), types, rec, f.signature);
  if (other.toLowerCase() === f.signer.toLowerCase()) {
    console.error("another chain id still verifies");
    process.exit(1);
  }
} else if (mode === "recover") {
  // FILE: lines "digest signature" -> one recovered address per line
  for (const line of readFileSync(process.argv[3], "utf8").split("\n")) {
    if (!line.trim()) continue;
    const [digest, sig] = line.trim().split(/\s+/);
    console.log(ethers.recoverAddress(digest, sig));
  }
} else if (mode === "sign") {
  for (const line of readFileSync(process.argv[3], "utf8").split("\n")) {
    if (!line.trim()) continue;
    const [key, digest] = line.trim().split(/\s+/);
    console.log(new ethers.SigningKey(key).sign(digest).serialized);
  }
} else {
  console.error("usage: ltv_eip712.mjs vectors | verify FILE.json | recover FILE | sign FILE");
  process.exit(2);
}
