// Word lists for needle keys ("adjective-noun"), written for this package. Plain, common,
// unambiguous words so that keys are easy to read and never collide with task markers.

export const ADJECTIVES: readonly string[] = [
  'ancient', 'angry', 'bitter', 'bold', 'brave', 'breezy', 'bright', 'broken', 'busy', 'calm',
  'careful', 'cheerful', 'clever', 'cloudy', 'clumsy', 'cold', 'crooked', 'curious', 'damp', 'dark',
  'dizzy', 'dusty', 'eager', 'early', 'empty', 'faint', 'famous', 'fancy', 'fierce', 'fluffy',
  'foggy', 'fragile', 'friendly', 'frozen', 'gentle', 'giant', 'glossy', 'golden', 'graceful', 'grumpy',
  'hasty', 'heavy', 'hidden', 'hollow', 'honest', 'humble', 'hungry', 'icy', 'jolly', 'lazy',
  'little', 'lively', 'lonely', 'loud', 'lucky', 'mellow', 'misty', 'modern', 'muddy', 'narrow',
  'nervous', 'noisy', 'odd', 'orange', 'patient', 'plain', 'polite', 'proud', 'purple', 'quick',
  'quiet', 'rapid', 'rare', 'restless', 'rough', 'round', 'rusty', 'sandy', 'shiny', 'silent',
  'silver', 'simple', 'sleepy', 'slow', 'smooth', 'snowy', 'soft', 'sour', 'spicy', 'steady',
  'sticky', 'stormy', 'striped', 'sunny', 'sweet', 'swift', 'tall', 'tame', 'tender', 'tidy',
  'tiny', 'tired', 'velvet', 'vivid', 'warm', 'wary', 'wild', 'windy', 'wise', 'witty',
];

export const NOUNS: readonly string[] = [
  'anchor', 'apple', 'badger', 'banjo', 'barrel', 'basket', 'beacon', 'beetle', 'bicycle', 'blanket',
  'bottle', 'bridge', 'bucket', 'butter', 'cabin', 'camel', 'candle', 'canyon', 'carpet', 'castle',
  'cellar', 'chimney', 'cobweb', 'comet', 'compass', 'cottage', 'cricket', 'crystal', 'cushion', 'dolphin',
  'dragon', 'drum', 'falcon', 'feather', 'fiddle', 'forest', 'fountain', 'garden', 'glacier', 'goblet',
  'hammer', 'harbor', 'helmet', 'island', 'jacket', 'kettle', 'ladder', 'lantern', 'lemon', 'lizard',
  'magnet', 'meadow', 'mirror', 'mitten', 'monkey', 'mountain', 'needle', 'notebook', 'orchard', 'otter',
  'oyster', 'paddle', 'parrot', 'pebble', 'pencil', 'pepper', 'piano', 'pillow', 'planet', 'pocket',
  'pumpkin', 'puzzle', 'rabbit', 'raven', 'ribbon', 'river', 'rocket', 'saddle', 'sailor', 'scarf',
  'shadow', 'shovel', 'spider', 'squirrel', 'statue', 'teapot', 'thimble', 'thunder', 'tiger', 'tractor',
  'trumpet', 'tulip', 'turtle', 'umbrella', 'valley', 'violin', 'wagon', 'walnut', 'whistle', 'window',
];
