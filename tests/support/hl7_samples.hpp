#ifndef HL7_TESTS_SUPPORT_SAMPLES_HPP
#define HL7_TESTS_SUPPORT_SAMPLES_HPP

// Sample messages shared by the model tests.

#include <string>
#include <vector>

namespace hl7_test {

// The message of python-hl7's MLLP document.
inline std::string const oru_sample =
    "MSH|^~\\&|GHH LAB|ELAB-3|GHH OE|BLDG4|200202150930||ORU^R01|CNTRL-3456|P|2.4\r"
    "PID|||555-44-4444||EVERYWOMAN^EVE^E^^^^L|JONES|196203520|F|||153 FERNWOOD DR.^^STATESVILLE^OH^35292||(206)3345232|(206)752-121||||AC555444444||67-A4335^OH^20030520\r"
    "OBR|1|845439^GHH OE|1045813^GHH LAB|1554-5^GLUCOSE|||200202150730||||||||555-55-5555^PRIMARY^PATRICIA P^^^^MD^^LEVEL SEVEN HEALTHCARE, INC.|||||||||F||||||444-44-4444^HIPPOCRATES^HOWARD H^^^^MD\r"
    "OBX|1|SN|1554-5^GLUCOSE^POST 12H CFST:MCNC:PT:SER/PLAS:QN||^182|mg/dl|70_105|H|||F\r";

// python-hl7's accessor documentation fragment (with a CR-terminated PID).
inline std::string const accessor_sample =
    "MSH|^~\\&|\r"
    "PID|Field1|Component1^Component2|Component1^Sub-Component1&Sub-Component2^Component3|Repeat1~Repeat2\r";

// An ADT with repetitions, escapes, UTF-8 names and several OBX/NTE.
inline std::string const adt_sample =
    "MSH|^~\\&|ADT1|GOOD HEALTH HOSPITAL|GHH LAB, INC.|GOOD HEALTH HOSPITAL|198808181126|SECURITY|ADT^A01^ADT_A01|MSG00001|P|2.5|||AL|NE||UNICODE UTF-8\r"
    "EVN|A01|200708181123||\r"
    "PID|1||PATID1234^5^M11^ADT1^MR^GOOD HEALTH HOSPITAL~123456789^^^USSSA^SS||Müller^Zoë^Ä||19610615|M||C|2222 HOME STREET^^GREENSBORO^NC^27401-1020|GL|(555) 555-2004|(555)555-2004||S||PATID12345001^2^M10^ADT1^AN^A|444333333|987654^NC\r"
    "NK1|1|NUCLEAR^NELDA^W|SPO^SPOUSE||||NK^NEXT OF KIN\r"
    "PV1|1|I|2000^2012^01||||004777^ATTEND^AARON^A|||SUR||||ADM|A0|\r"
    "OBX|1|TX|NOTE||Line one\\.br\\Line two \\T\\ more \\F\\ pipe||||||F\r"
    "OBX|2|NM|WT^Weight||72|kg^kilogram^ISO+|||||F\r"
    "NTE|1||Comment with \\E\\ backslash and \\S\\ caret\r";

// Unusual delimiters: field '#', component '$', repetition '*', escape '!', sub-component '%'.
inline std::string const odd_delimiters_sample =
    "MSH#$*!%#APP#FAC#RCV#RFAC#20240101120000##ADT$A04#ID77#P#2.5\r"
    "PID#1##A1$B1*A2$B2%S2#!F!x\r";

inline std::vector<std::string> all_samples()
{
    return {oru_sample, accessor_sample, adt_sample, odd_delimiters_sample};
}

} // namespace hl7_test

#endif
