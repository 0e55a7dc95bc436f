// @titans/data: tokenizers, corpora, a resumable token loader, long-context tasks (S-NIAH,
// passkey, BABILong-style, MQAR), time series and DNA. Everything is seeded and
// deterministic, and everything is read from installed npm packages or shipped files.

export { SeededRandom, deriveSeed } from './random.ts';

export type { Tokenizer } from './tokenizers/tokenizer.ts';
export { countTokens } from './tokenizers/tokenizer.ts';
export { ByteTokenizer, utf8ByteLength } from './tokenizers/byte.ts';
export { Gpt2Tokenizer } from './tokenizers/gpt2.ts';
export { loadTokenizer, tokenizerNames, type TokenizerName } from './tokenizers/index.ts';

export { loadCorpus, corpusSplits, mobyDickText, documentOrdinal, type CorpusDocument, type CorpusName, type Split, type LoadCorpusOptions } from './corpora/corpus.ts';
export { TextInputError, decodeText, firstInvalidUtf8Offset, textDocuments, textSplitPoint, type DecodeTextOptions, type SplitTextOptions, type TextSplit } from './corpora/text.ts';
export { splitSentences, documentSentences, normalizeWhitespace, type SentenceFilter } from './corpora/sentences.ts';

export { TokenPacker, TokenLoader, type TokenLoaderOptions, type LoaderState, type TokenBatch } from './loader/loader.ts';

export { haystackSource, sentenceSource, SentenceTokenCounts, PK_FILLER_SENTENCES, type SentenceSource, type HaystackName } from './tasks/sentence-source.ts';
export { LongContext, fitCount, boundaryAtTokenFraction, type LongContextSpec, type Insertion, type TextChunk, type ChunkOptions } from './tasks/long-context.ts';
export {
  generateNiahSample,
  niahTemplates,
  niahTaskSpecs,
  evenlySpacedDepths,
  randomKey,
  randomSevenDigitNumber,
  randomUuid4,
  type NiahTask,
  type NiahValueType,
  type NiahOptions,
  type NiahSample,
} from './tasks/niah.ts';
export { generatePasskeySample, passkeyTrainingExample, PASSKEY_INTRO, PASSKEY_QUESTION, type PasskeyOptions, type PasskeySample, type PasskeyTrainingExample } from './tasks/passkey.ts';
export { compactPasskey, COMPACT_PASSKEY_QUESTION, type CompactPasskey, type CompactPasskeyOptions } from './tasks/compact-passkey.ts';
export { generateMqarBatch, validateMqarOptions, type MqarOptions, type MqarBatch } from './tasks/mqar.ts';
export {
  generateBabilongSample,
  generateBabilongFacts,
  babilongLabels,
  babilongTasks,
  babilongDefaultFacts,
  ROOMS,
  BABILONG_INSTRUCTION,
  type BabilongTask,
  type BabilongOptions,
  type BabilongSample,
  type BabilongFacts,
} from './tasks/babilong.ts';
export { ADJECTIVES, NOUNS } from './tasks/words.ts';

export { parseCsv, type CsvTable } from './timeseries/csv.ts';
export {
  loadTimeSeries,
  timeSeriesFromCsv,
  timeSeriesDatasets,
  makeForecastSplits,
  ZNormalizer,
  WindowDataset,
  type TimeSeries,
  type TimeSeriesName,
  type TimeSeriesFromCsvOptions,
  type ForecastWindow,
  type ForecastSplitOptions,
  type ForecastSplits,
} from './timeseries/timeseries.ts';

export { DnaTokenizer } from './dna/dna-tokenizer.ts';
export { parseFasta, readFasta, loadDna, dnaSourcePath, reverseComplement, sampleDnaBatch, type FastaRecord, type DnaSplits, type DnaSourceName, type LoadDnaOptions, type DnaBatchOptions } from './dna/dna.ts';
